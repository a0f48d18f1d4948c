import type { Questionnaire } from 'fhir/r4';
import type { Problem } from '../core/outcome';
import { FHIR_ID_SOURCE } from '../core/ids';

const EXPRESSION = 'QuestionnaireResponse.questionnaire';
/** `Questionnaire/id`, optionally `/_history/version`. */
const RELATIVE = new RegExp(`^Questionnaire/(${FHIR_ID_SOURCE})(/_history/${FHIR_ID_SOURCE})?$`);

/**
 * Finds the Questionnaire a QuestionnaireResponse answers. Accepts the canonical `url|version`
 * (what the SDC profile asks for), a bare `url` (the latest version wins) or a relative
 * `Questionnaire/{id}` reference. Returns a Problem when it is missing or unknown.
 */
export function resolveQuestionnaire(canonical: string | undefined, questionnaires: Questionnaire[]): Questionnaire | Problem {
  const ref = canonical?.trim();
  if (!ref) {
    return { expression: EXPRESSION, message: 'QuestionnaireResponse.questionnaire is required', code: 'required' };
  }

  const relative = RELATIVE.exec(ref);
  if (relative) {
    const byId = questionnaires.find((q) => q.id === relative[1]);
    if (byId) return byId;
    return unknown(ref);
  }

  const bar = ref.indexOf('|');
  const url = bar < 0 ? ref : ref.slice(0, bar);
  const version = bar < 0 ? undefined : ref.slice(bar + 1);
  if (version === '') {
    return {
      expression: EXPRESSION,
      message: `"${ref}" ends with "|" but names no version: use url|version or the bare url`,
      code: 'value',
    };
  }
  const candidates = questionnaires.filter((q) => q.url === url);
  if (version !== undefined) {
    const exact = candidates.find((q) => q.version === version);
    if (exact) return exact;
    const known = candidates.map((q) => q.version).filter(Boolean);
    return unknown(ref, known.length ? ` (known versions: ${known.join(', ')})` : '');
  }
  if (candidates.length === 0) return unknown(ref);
  return candidates.reduce((latest, q) => (compareVersions(q.version, latest.version) > 0 ? q : latest));
}

export function isProblem(value: Questionnaire | Problem): value is Problem {
  return (value as Questionnaire).resourceType !== 'Questionnaire';
}

function unknown(ref: string, detail = ''): Problem {
  return { expression: EXPRESSION, message: `Unknown Questionnaire "${ref}"${detail}`, code: 'not-found' };
}

/**
 * Semver-ish: numeric parts compare as numbers (1.10 > 1.9), other parts as strings; a release
 * sorts after its pre-release (1.0.0 > 1.0.0-draft); no version sorts first.
 */
export function compareVersions(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const [aMain, aPre] = splitPre(a);
  const [bMain, bPre] = splitPre(b);
  const main = compareParts(aMain.split('.'), bMain.split('.'));
  if (main !== 0) return main;
  if (aPre === undefined) return bPre === undefined ? 0 : 1;
  if (bPre === undefined) return -1;
  return compareParts(aPre.split('.'), bPre.split('.'));
}

function splitPre(v: string): [string, string | undefined] {
  const i = v.indexOf('-');
  return i < 0 ? [v, undefined] : [v.slice(0, i), v.slice(i + 1)];
}

function compareParts(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    if (!Number.isNaN(nx) && !Number.isNaN(ny)) {
      if (nx !== ny) return nx < ny ? -1 : 1;
    } else if (!Number.isNaN(nx)) {
      return -1; // numeric identifiers sort before alphanumeric ones, as in semver
    } else if (!Number.isNaN(ny)) {
      return 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}
