/**
 * The benchmark's written results: a markdown summary and an SVG chart of throughput and latency
 * ratios (service / bare echo) with the targets drawn in. Plain string building, no dependencies.
 */
'use strict';

const escape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function scenarios(results) {
  return [
    ['hook, auth off', results.hook, { throughput: 0.4, p99: 3 }],
    ['hook, auth on', results.hookAuth, { throughput: 0.25 }],
    ['create, SQLite', results.createSqlite, { throughput: 0.2 }],
    ['create, PostgreSQL', results.createPostgres, { throughput: 0.15 }],
  ].filter(([, r]) => r);
}

/** Two panels: throughput ratio (higher is better) and p50/p99 latency ratio (lower is better). */
function chartSvg(results) {
  const rows = scenarios(results);
  const width = 760;
  const rowHeight = 46;
  const top = 56;
  const left = 150;
  const panel = 270;
  const gap = 50;
  const height = top + rows.length * rowHeight + 40;
  const maxThroughput = Math.max(1, ...rows.map(([, r]) => r.throughputRatio));
  const maxLatency = Math.max(4, ...rows.map(([, r]) => Math.max(r.p50Ratio, r.p99Ratio)));
  const x1 = (v) => left + (v / maxThroughput) * panel;
  const x2 = (v) => left + panel + gap + (v / maxLatency) * panel;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="14" font-weight="bold">Throughput, service / echo (higher is better)</text>`,
    `<text x="${left + panel + gap}" y="20" font-size="14" font-weight="bold">Latency, service / echo (lower is better)</text>`,
    `<text x="${left}" y="38" fill="#555">dashed: target; ${escape(results.machine.cores)} cores, Node ${escape(results.machine.node)}, ${escape(results.startedAt.slice(0, 10))}</text>`,
  ];
  rows.forEach(([label, r, target], i) => {
    const y = top + i * rowHeight;
    parts.push(`<text x="${left - 8}" y="${y + 22}" text-anchor="end">${escape(label)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 8}" width="${x1(r.throughputRatio) - left}" height="20" fill="#2b6cb0"/>`);
    parts.push(`<text x="${x1(r.throughputRatio) + 4}" y="${y + 22}">${r.throughputRatio.toFixed(2)}x</text>`);
    if (target.throughput)
      parts.push(
        `<line x1="${x1(target.throughput)}" x2="${x1(target.throughput)}" y1="${y + 4}" y2="${y + 32}" stroke="#c53030" stroke-dasharray="4 3"/>`,
      );
    parts.push(`<rect x="${x2(0)}" y="${y + 6}" width="${x2(r.p50Ratio) - x2(0)}" height="11" fill="#68d391"/>`);
    parts.push(`<rect x="${x2(0)}" y="${y + 19}" width="${x2(r.p99Ratio) - x2(0)}" height="11" fill="#dd6b20"/>`);
    parts.push(
      `<text x="${x2(Math.max(r.p50Ratio, r.p99Ratio)) + 4}" y="${y + 22}">p50 ${r.p50Ratio.toFixed(1)}x, p99 ${r.p99Ratio.toFixed(1)}x</text>`,
    );
    if (target.p99)
      parts.push(
        `<line x1="${x2(target.p99)}" x2="${x2(target.p99)}" y1="${y + 4}" y2="${y + 32}" stroke="#c53030" stroke-dasharray="4 3"/>`,
      );
  });
  const legendY = top + rows.length * rowHeight + 20;
  parts.push(
    `<rect x="${left + panel + gap}" y="${legendY - 10}" width="12" height="10" fill="#68d391"/><text x="${left + panel + gap + 16}" y="${legendY}">p50</text>`,
  );
  parts.push(
    `<rect x="${left + panel + gap + 60}" y="${legendY - 10}" width="12" height="10" fill="#dd6b20"/><text x="${left + panel + gap + 76}" y="${legendY}">p99</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function markdown(results) {
  const m = results.machine;
  const lines = [
    `# Benchmark results (${results.startedAt.slice(0, 16).replace('T', ' ')} UTC)`,
    '',
    `Machine: ${m.cores} x ${m.cpu}, ${m.memoryGb} GB, ${m.platform}, Node ${m.node}; load average at start ${m.loadAverageAtStart.join(' ')}.`,
    `Method: autocannon, ${results.settings.connections} connections, ${results.settings.seconds} s per run after a ${results.settings.warmupSeconds} s warm-up, service and bare Express 5 echo (same bodies) each in its own fresh process, alternated A/B ${results.settings.rounds} times; ratios of the means.`,
    '',
    '![throughput and latency ratios](latest.svg)',
    '',
    '## Targets',
    '',
    '| figure | measured | target | |',
    '|---|---|---|---|',
    ...results.targets.map((t) => `| ${t.figure} | ${t.shown} | ${t.target} | ${t.pass === null ? 'n/a' : t.pass ? 'pass' : 'FAIL'} |`),
    '',
    '## HTTP, service against echo',
    '',
    '| scenario | service req/s | echo req/s | throughput | p50 service / echo | p99 service / echo |',
    '|---|---|---|---|---|---|',
    ...scenarios(results).map(
      ([label, r]) =>
        `| ${label} | ${r.service.rps.toFixed(0)} | ${r.echo.rps.toFixed(0)} | ${r.throughputRatio.toFixed(2)}x | ${r.service.p50.toFixed(1)} / ${r.echo.p50.toFixed(1)} ms | ${r.service.p99.toFixed(1)} / ${r.echo.p99.toFixed(1)} ms |`,
    ),
    '',
  ];
  if (results.evaluation) {
    lines.push('## One evaluation in-process (validation + rules + RiskAssessment)', '', '| | median | p99 |', '|---|---|---|');
    lines.push(
      `| results reused between evaluations | ${results.evaluation.memoised.medianUs.toFixed(0)} us | ${results.evaluation.memoised.p99Us.toFixed(0)} us |`,
    );
    lines.push(
      `| every rule run | ${results.evaluation.notMemoised.medianUs.toFixed(0)} us | ${results.evaluation.notMemoised.p99Us.toFixed(0)} us |`,
      '',
    );
  }
  if (results.coldStart)
    lines.push(
      `Cold start (spawn to first 200 from /fhir/metadata): ${results.coldStart.runsMs.map((t) => `${t.toFixed(0)} ms`).join(', ')}.`,
      '',
    );
  if (results.rss)
    lines.push(
      `RSS: ${results.rss.idleMb.toFixed(0)} MB idle, ${results.rss.afterMb.toFixed(0)} MB after ${results.rss.requests} mixed requests.`,
      '',
    );
  if (results.search) {
    lines.push(
      '## Search latency by store size (SQLite, median over 400 searches for random patients; one store per size, searched in turns)',
      '',
      '| stored responses | RiskAssessment?patient&_sort=-date | QuestionnaireResponse?patient |',
      '|---|---|---|',
    );
    for (const s of results.search)
      lines.push(`| ${s.responses} | ${s.riskAssessment.medianMs.toFixed(2)} ms | ${s.questionnaireResponse.medianMs.toFixed(2)} ms |`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

module.exports = { chartSvg, markdown };
