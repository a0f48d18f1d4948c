/**
 * One evaluation as the API does it, in-process from the built dist/: schema validation, validation
 * against the Questionnaire, rules, RiskAssessment. Used by bench/run.js (its timings) and
 * bench/isolate-rss.js (the memory the stack holds).
 */
'use strict';
const path = require('node:path');
const { ROOT } = require('./bodies');

const DIST = path.join(ROOT, 'dist', 'src');

/** Loads the stack; returns a function that validates and evaluates one response (throws when it is invalid). */
function evaluationStack({ memoise = true } = {}) {
  const { loadEvaluator } = require(path.join(DIST, 'clinical', 'engine.js'));
  const { loadCatalog } = require(path.join(DIST, 'clinical', 'catalog.js'));
  const { createSchemaValidator } = require(path.join(DIST, 'core', 'schema-validator.js'));
  const { validateResponse } = require(path.join(DIST, 'clinical', 'validate-response.js'));
  const catalog = loadCatalog();
  const schema = createSchemaValidator();
  const questionnaire = catalog.questionnaires[0];
  const evaluator = loadEvaluator({ memoise });
  return (qr) => {
    const problems = [...schema.validate(qr), ...validateResponse(qr, questionnaire, { valueSets: catalog.valueSets })];
    if (problems.some((p) => (p.severity ?? 'error') === 'error')) throw new Error(`bench response invalid: ${problems[0].message}`);
    // The RiskAssessment is rendered when first read: read it, as the API does before storing it.
    return evaluator.evaluate(qr).riskAssessment;
  };
}

module.exports = { evaluationStack };
