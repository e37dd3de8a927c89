// Compiles Timestamp.sol, the local stand-in for EBSI's Timestamp contract,
// exactly as sync/anchor/contract/compile.js compiles the Waybill registry:
// the solc-js version pinned in sync/anchor/contract/package.json, its
// config (evmVersion, default "paris", overridden by the environment
// variable EVM_VERSION; optimizerRuns), the standard-JSON interface, and a
// source unit named "Timestamp.sol" whatever the checkout path. It writes
// Timestamp.abi.json and Timestamp.bin.
//
//   NODE_PATH=build/contract/node_modules node compile.js [--out DIR]
//
// sync/anchor/contract/build.sh installs the pinned solc into
// build/contract. Any compiler error or warning fails the build.
'use strict';

const fs = require('fs');
const path = require('path');

const here = __dirname;
const pkg = JSON.parse(fs.readFileSync(path.join(here, '..', '..', 'contract', 'package.json'), 'utf8'));

function fail(msg) {
  process.stderr.write('compile.js: ' + msg + '\n');
  process.exit(1);
}

function parseArgs(argv) {
  const args = { out: here };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) {
      args.out = path.resolve(argv[++i]);
    } else {
      fail('unknown argument ' + JSON.stringify(argv[i]) + ' (usage: node compile.js [--out DIR])');
    }
  }
  return args;
}

const evmVersions = ['london', 'paris', 'shanghai', 'cancun', 'prague', 'osaka'];

function main() {
  const args = parseArgs(process.argv.slice(2));
  const evmVersion = process.env.EVM_VERSION || pkg.config.evmVersion || 'paris';
  if (!evmVersions.includes(evmVersion)) {
    fail('evmVersion ' + JSON.stringify(evmVersion) + ' is not one of ' + evmVersions.join(', '));
  }
  const runs = pkg.config.optimizerRuns;
  if (!Number.isInteger(runs) || runs < 1) {
    fail('sync/anchor/contract/package.json config.optimizerRuns must be a positive integer');
  }
  let solc;
  try {
    solc = require('solc');
  } catch (e) {
    fail('solc is not installed; run sync/anchor/contract/build.sh (npm ci into build/contract): ' + e.message);
  }
  const want = pkg.dependencies.solc;
  const got = solc.version();
  if (!got.startsWith(want + '+')) {
    fail('solc is ' + got + ', sync/anchor/contract/package.json pins ' + want);
  }

  const name = 'Timestamp';
  const input = {
    language: 'Solidity',
    sources: {
      [name + '.sol']: { content: fs.readFileSync(path.join(here, name + '.sol'), 'utf8') },
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
