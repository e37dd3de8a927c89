// Compiles WaybillRegistry.sol (or, with --src, another contract of the
// project, such as the EBSI Timestamp stand-in) with the solc-js version
// pinned in package.json, through the standard-JSON interface, and writes
// NAME.abi.json and NAME.bin beside the source (or into --out).
//
//   node compile.js [--src FILE.sol] [--out DIR]
//
// Settings come from package.json's "config": evmVersion (default "paris";
// the environment variable EVM_VERSION overrides it) and optimizerRuns. The
// source unit is named "WaybillRegistry.sol" whatever the checkout path, so
// the bytecode, including its metadata hash, depends only on the source text,
// the compiler and these settings. Any compiler error or warning fails the
// build.
'use strict';

const fs = require('fs');
const path = require('path');

const here = __dirname;
const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));

function fail(msg) {
  process.stderr.write('compile.js: ' + msg + '\n');
  process.exit(1);
}

function parseArgs(argv) {
  const args = { out: null, src: path.join(here, 'WaybillRegistry.sol') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) {
      args.out = path.resolve(argv[++i]);
    } else if (argv[i] === '--src' && i + 1 < argv.length) {
      args.src = path.resolve(argv[++i]);
    } else {
      fail('unknown argument ' + JSON.stringify(argv[i]) + ' (usage: node compile.js [--src FILE.sol] [--out DIR])');
    }
  }
  // The outputs go beside the source unless --out says otherwise.
  args.out = args.out || path.dirname(args.src);
  return args;
}

// The EVM versions solc 0.8.37 accepts that a Waybill chain may run.
const evmVersions = ['london', 'paris', 'shanghai', 'cancun', 'prague', 'osaka'];

function main() {
  const args = parseArgs(process.argv.slice(2));
  const evmVersion = process.env.EVM_VERSION || pkg.config.evmVersion || 'paris';
  if (!evmVersions.includes(evmVersion)) {
    fail('evmVersion ' + JSON.stringify(evmVersion) + ' is not one of ' + evmVersions.join(', '));
  }
  const runs = pkg.config.optimizerRuns;
  if (!Number.isInteger(runs) || runs < 1) {
    fail('package.json config.optimizerRuns must be a positive integer');
  }

  let solc;
  try {
    solc = require('solc');
  } catch (e) {
    fail('solc is not installed; run build.sh (npm ci into build/contract): ' + e.message);
  }
  const want = pkg.dependencies.solc;
  const got = solc.version();
  if (!got.startsWith(want + '+')) {
    fail('solc is ' + got + ', package.json pins ' + want);
  }

  // The contract is named as its file; the source unit is the bare file
  // name whatever the checkout path.
  const name = path.basename(args.src, '.sol');
  const input = {
    language: 'Solidity',
    sources: {
      [name + '.sol']: { content: fs.readFileSync(args.src, 'utf8') },
    },
    settings: {
      evmVersion: evmVersion,
      optimizer: { enabled: true, runs: runs },
      viaIR: false,
      metadata: { bytecodeHash: 'ipfs' },
      outputSelection: { '*': { [name]: ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = (output.errors || []).filter((e) => e.severity !== 'info');
  if (problems.length > 0) {
    fail('solc ' + got + ':\n' + problems.map((e) => e.formattedMessage || e.message).join('\n'));
  }
  const c = output.contracts[name + '.sol'][name];
  const bin = c.evm.bytecode.object;
  if (!/^([0-9a-f]{2})+$/.test(bin)) {
    fail('solc returned no bytecode');
  }
  fs.mkdirSync(args.out, { recursive: true });
  fs.writeFileSync(path.join(args.out, name + '.abi.json'), JSON.stringify(c.abi, null, 2) + '\n');
  fs.writeFileSync(path.join(args.out, name + '.bin'), bin + '\n');
  process.stdout.write(
    'compiled ' + name + '.sol with solc ' + got + ', evmVersion ' + evmVersion +
      ', optimizer runs ' + runs + ': ' + bin.length / 2 + ' bytes of creation code\n'
  );
}

main();
