-- The frontier of each origin's tree at a verified checkpoint
-- (watch.FrontierStore): the roots of its perfect subtrees, largest first,
-- 32 bytes each, so that a restarted watcher reads only the events after
-- it. It only moves to larger sizes.

CREATE TABLE frontiers (
	device     bytea         NOT NULL CHECK (octet_length(device) = 20),
	epoch      bigint        NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
	size       numeric(20,0) NOT NULL CHECK (size >= 0 AND size < 18446744073709551616),
	nodes      bytea         NOT NULL CHECK (octet_length(nodes) % 32 = 0),
	updated_at timestamptz   NOT NULL DEFAULT now(),
	PRIMARY KEY (device, epoch)
);
