#!/usr/bin/env node
/**
 * The baseline: a bare Express 5 app that parses a JSON body and echoes it back. Every benchmark
 * figure is a ratio against this server, measured in the same run on the same machine.
 * PORT from the environment (0 picks a free one); prints "listening <port>" when ready.
 */
'use strict';
const express = require('express');

const app = express();
app.use(express.json({ limit: '1mb', type: ['application/json', 'application/*+json'] }));
app.post(/.*/, (req, res) => {
  res.json(req.body);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
