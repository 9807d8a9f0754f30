// SPDX-License-Identifier: MIT
//
// Starts @20minutes/s3rver (installed in this directory by
// scripts/install-deps) for the integration tests: one SigV4 key pair, path-
// style buckets, objects under S3_DIR, on 127.0.0.1:S3_PORT; prints
// "READY 127.0.0.1:PORT" once it listens, and every request it serves.
// Run as:  node --openssl-legacy-provider run.js
// (the flag: s3rver encrypts ListObjectsV2 continuation tokens with DES,
// which node 17+ has only in OpenSSL's legacy provider; without it every
// listing of more than one page answers 500).
//
// Environment: S3_KEY, S3_SECRET (required), S3_PORT (required), S3_DIR
// (required: deleted by the test), S3_BUCKETS (comma-separated, created
// empty at start; default none).
'use strict';

const S3rver = require('@20minutes/s3rver');
const Account = require('@20minutes/s3rver/lib/models/account');

for (const v of ['S3_KEY', 'S3_SECRET', 'S3_PORT', 'S3_DIR']) {
  if (!process.env[v]) {
    console.error(`run.js: ${v} is not set`);
    process.exit(2);
  }
}
// 4.0.4's built-in account accepts S3RVER/S3RVER: replace it with ours, so
// that a wrong key or secret is refused (403), as a real server does.
Account.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
Account.DUMMY_ACCOUNT.createKeyPair(process.env.S3_KEY, process.env.S3_SECRET);

const buckets = (process.env.S3_BUCKETS || '').split(',').filter((b) => b);
new S3rver({
  address: '127.0.0.1',
  port: Number(process.env.S3_PORT),
  directory: process.env.S3_DIR,
  silent: false,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
})
  .run()
  .then(({ address, port }) => console.log(`READY ${address}:${port}`))
  .catch((e) => {
    console.error(`run.js: s3rver did not start: ${e.message}`);
    process.exit(1);
  });
process.on('SIGTERM', () => process.exit(0));
