import type { Questionnaire } from 'fhir/r4';
import { loadCatalog, type Catalog } from './catalog';
import { QUESTIONNAIRE_URL } from '../core/canonical';
import { PROJECT_ROOT } from '../core/project-root';
import { createValueSetIndex, type ValueSetIndex } from './value-set-index';
import { compilePopulationPlan, PopulationError, type PopulationPlan } from './chart-population';

/** The compiled population plans of the catalog's Questionnaires, by `url|version` (and by id). */
export interface PopulationPlans {
  valueSets: ValueSetIndex;
  get(questionnaire: Questionnaire): PopulationPlan;
  /** The calf-pain Questionnaire's plan (the chart rules of the CDS service use it). */
  calfPain: PopulationPlan;
}

export function createPopulationPlans(catalog: Pick<Catalog, 'questionnaires' | 'valueSets'>): PopulationPlans {
  const valueSets = createValueSetIndex(catalog.valueSets);
  const plans = new Map<Questionnaire, PopulationPlan>(catalog.questionnaires.map((q) => [q, compilePopulationPlan(q, valueSets)]));
  const latest = catalog.questionnaires.filter((q) => q.url === QUESTIONNAIRE_URL).at(-1);
  if (!latest) throw new PopulationError(`The catalog has no Questionnaire ${QUESTIONNAIRE_URL}`);
  return {
    valueSets,
    get(questionnaire) {
      const plan = plans.get(questionnaire);
      if (!plan) throw new PopulationError(`Questionnaire/${questionnaire.id} is not in the catalog`);
      return plan;
    },
    calfPain: plans.get(latest)!,
  };
}

/** Loads and compiles the population plans of the project's Questionnaires (start-up). */
export function loadPopulationPlans(rootDir = PROJECT_ROOT): PopulationPlans {
  return createPopulationPlans(loadCatalog(rootDir));
}
