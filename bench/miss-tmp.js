const { loadEvaluator } = require('../dist/src/evaluation/engine.js');
const { response } = require('./bodies');
const ev = loadEvaluator();
const rs = Array.from({ length: 64 }, (_, i) => response(`bench-${i}`, i));
for (let k = 0; k < 20; k++) for (const r of rs) ev.evaluate(r);
let t = process.hrtime.bigint(); for (let k = 0; k < 100; k++) for (const r of rs) ev.evaluate(r); console.log('pool us/eval', Number(process.hrtime.bigint() - t) / 6400 / 1000);
