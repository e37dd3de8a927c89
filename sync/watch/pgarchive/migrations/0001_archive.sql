-- The watcher's archive (firmware-docs/WATCH-ARCHIVE.md).
--
-- device: the device's 20-byte address. epoch: uint32. Sequence numbers,
-- sizes, chain IDs, block numbers, confirmations and counts are uint64,
-- stored exactly as numeric(20,0) within [0, 2^64).

CREATE TABLE events (
	device      bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch       bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	seq         numeric(20,0) NOT NULL CHECK (seq >= 0 AND seq < 18446744073709551616),
	leaf        bytea         NOT NULL,
	archived_at timestamptz   NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch, seq)
);

CREATE TABLE origins (
	device       bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch        bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	events       numeric(20,0) NOT NULL DEFAULT 0 CHECK (events >= 0 AND events < 18446744073709551616),
	checkpointed numeric(20,0) NOT NULL DEFAULT 0 CHECK (checkpointed >= 0 AND checkpointed < 18446744073709551616),
	anchored     numeric(20,0) NOT NULL DEFAULT 0 CHECK (anchored >= 0 AND anchored < 18446744073709551616),
	cosigned     numeric(20,0) NOT NULL DEFAULT 0 CHECK (cosigned >= 0 AND cosigned < 18446744073709551616),
	PRIMARY KEY (device, epoch)
);

CREATE TABLE epochs (
	device      bytea       NOT NULL CHECK (octet_length(device) = 20),
	epoch       bigint      NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	recorded_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch)
);

CREATE TABLE checkpoints (
	device      bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch       bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	size        numeric(20,0) NOT NULL CHECK (size >= 0 AND size < 18446744073709551616),
	note        bytea         NOT NULL,
	archived_at timestamptz   NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch, size)
);

CREATE TABLE received (
	device      bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch       bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	size        numeric(20,0) NOT NULL CHECK (size >= 0 AND size < 18446744073709551616),
	note        bytea         NOT NULL,
	archived_at timestamptz   NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch, size)
);

CREATE TABLE cosigned (
	device      bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch       bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	size        numeric(20,0) NOT NULL CHECK (size >= 0 AND size < 18446744073709551616),
	note        bytea         NOT NULL,
	archived_at timestamptz   NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch, size)
);

CREATE TABLE anchors (
	device        bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch         bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	size          numeric(20,0) NOT NULL CHECK (size >= 0 AND size < 18446744073709551616),
	root          bytea         NOT NULL CHECK (octet_length(root) = 32),
	chain_id      numeric(20,0) NOT NULL CHECK (chain_id >= 0 AND chain_id < 18446744073709551616),
	tx            bytea         NOT NULL CHECK (octet_length(tx) = 32),
	block         numeric(20,0) NOT NULL CHECK (block >= 0 AND block < 18446744073709551616),
	confirmations numeric(20,0) NOT NULL CHECK (confirmations >= 0 AND confirmations < 18446744073709551616),
	final         boolean       NOT NULL,
	source        text          NOT NULL,
	archived_at   timestamptz   NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch, size, root, chain_id, tx)
);

CREATE TABLE alarms (
	n        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id       bytea       NOT NULL UNIQUE CHECK (octet_length(id) = 32),
	time     timestamptz NOT NULL,
	device   bytea       NOT NULL CHECK (octet_length(device) = 20),
	epoch    bigint      NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	reason   text        NOT NULL,
	detail   text        NOT NULL,
	evidence bytea
);

CREATE TABLE rejected (
	n       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time    timestamptz NOT NULL,
	topic   bytea       NOT NULL,
	payload bytea       NOT NULL,
	reason  text        NOT NULL,
	detail  text        NOT NULL
);
CREATE INDEX rejected_reason ON rejected (reason, n);

CREATE TABLE unknown (
	n       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time    timestamptz NOT NULL,
	topic   bytea       NOT NULL,
	payload bytea       NOT NULL,
	reason  text        NOT NULL CHECK (reason = 'unknown_device'),
	detail  text        NOT NULL
);

-- The state of every archived event (firmware-docs/WATCH.md §4), from its
-- seq and its origin's marks, as watch.Progress.State gives it.
CREATE VIEW event_states AS
SELECT e.device,
	'0x' || encode(e.device, 'hex') AS address,
	e.epoch,
	e.seq,
	CASE
		WHEN e.seq < LEAST(o.checkpointed, o.anchored, o.cosigned) THEN 'witnessed'
		WHEN e.seq < LEAST(o.checkpointed, o.anchored) THEN 'anchored'
		WHEN e.seq < o.checkpointed THEN 'checkpointed'
		ELSE 'verified'
	END AS state,
	e.archived_at
FROM events e JOIN origins o ON o.device = e.device AND o.epoch = e.epoch;
