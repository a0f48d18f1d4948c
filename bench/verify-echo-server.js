#!/usr/bin/env node
/**
 * For bench/bounds.js: the echo baseline plus what auth cannot skip, jose's ES384 check of the bearer
 * token (the development client's key), before the body is echoed. It does nothing else a hook does.
 * PORT from the environment; prints "listening <port>".
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');

async function main() {
  const { jwtVerify } = await import('jose');
  const privateKey = crypto.createPrivateKey(
    fs.readFileSync(path.join(__dirname, '..', 'config', 'dev-keys', 'dev-client-es384.private.pem')),
  );
  const key = crypto.createPublicKey(privateKey);
  const app = express();
  app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
  app.post(/.*/, async (req, res) => {
    try {
      await jwtVerify(String(req.get('authorization')).replace(/^Bearer /, ''), key, { algorithms: ['ES384'] });
    } catch {
      res.status(401).json({ error: 'invalid token' });
      return;
    }
    res.json(req.body);
  });
  const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
