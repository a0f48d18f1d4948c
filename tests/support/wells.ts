/**
 * The Wells DVT criteria of the calf-pain Questionnaire, by linkId, and answer sets several test
 * files post. Kept here so a renamed linkId is fixed once, not in every test file that lists them.
 */
import type { AnswerValue } from './build-response';

/** The nine Wells criteria worth +1 each (Wells 2003), in Questionnaire order. */
export const WELLS_PLUS_ONE_LINK_IDS: readonly string[] = [
  'wells-active-cancer',
  'wells-paralysis-or-cast',
  'wells-bedridden-or-surgery',
  'wells-tenderness-deep-veins',
  'wells-entire-leg-swollen',
  'wells-calf-swelling-3cm',
  'wells-pitting-edema',
  'wells-collateral-veins',
  'wells-previous-dvt',
];

/** The criterion worth -2: an alternative diagnosis at least as likely as DVT. */
export const WELLS_ALTERNATIVE_LINK_ID = 'wells-alternative-diagnosis';

/** All ten Wells criteria: the nine +1 criteria, then the alternative diagnosis. */
export const WELLS_LINK_IDS: readonly string[] = [...WELLS_PLUS_ONE_LINK_IDS, WELLS_ALTERNATIVE_LINK_ID];

/**
 * Every Wells criterion answered, score 3 (bedridden, deep-vein tenderness, calf swelling): DVT likely
 * and a final assessment. The everyday "valid response" of the FHIR API tests.
 */
export const WELLS_LIKELY_ANSWERS: Readonly<Record<string, AnswerValue>> = {
  'affected-side': 'left',
  'recent-injury': false,
  'calf-swelling-reported': true,
  'wells-active-cancer': false,
  'wells-paralysis-or-cast': false,
  'wells-bedridden-or-surgery': true,
  'wells-previous-dvt': false,
  'wells-tenderness-deep-veins': true,
  'wells-entire-leg-swollen': false,
  'wells-calf-swelling-3cm': true,
  'wells-pitting-edema': false,
  'wells-collateral-veins': false,
  'wells-alternative-diagnosis': false,
};
