import fs from 'node:fs';
import path from 'node:path';
import type { Questionnaire, Resource, ValueSet } from 'fhir/r4';
import { PROJECT_ROOT } from '../core/project-root';

/**
 * The resources the service ships as data: questionnaires/ (the Questionnaires portals render) and
 * fhir-resources/ (rules, terminology, the service's Device). Read once at start-up; seed.ts writes
 * them into the store.
 */
export interface Catalog {
  questionnaires: Questionnaire[];
  valueSets: ValueSet[];
  /** Everything, for seeding the store (read/search over the FHIR API). */
  resources: Resource[];
}

function readJsonDir(dir: string): Resource[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const resource = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Resource;
      if (!resource.resourceType || !resource.id) throw new Error(`${path.join(dir, f)}: a resource with resourceType and id is required`);
      return resource;
    });
}

export function loadCatalog(rootDir = PROJECT_ROOT): Catalog {
  const questionnaireFiles = readJsonDir(path.join(rootDir, 'questionnaires'));
  const resources = [...questionnaireFiles, ...readJsonDir(path.join(rootDir, 'fhir-resources'))];
  return {
    questionnaires: resources.filter((r): r is Questionnaire => r.resourceType === 'Questionnaire'),
    valueSets: resources.filter((r): r is ValueSet => r.resourceType === 'ValueSet'),
    resources,
  };
}
