import fs from 'node:fs';
import path from 'node:path';
import type { Questionnaire, Resource, ValueSet } from 'fhir/r4';
import type { Store } from '../storage/store';
import { PROJECT_ROOT } from '../core/project-root';
import { indexResource } from '../storage/search-parameters';

/**
 * The resources the service ships as data: questionnaires/ (the Questionnaires portals render) and
 * fhir-resources/ (rules, terminology, the service's Device). Read once at start-up.
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

function withoutMeta(resource: Resource): string {
  const { meta: _meta, ...rest } = resource;
  return JSON.stringify(rest);
}

/**
 * True when every search parameter value of the stored resource finds it: a database written before a
 * parameter was added (url on ValueSet, say) has no index rows for it, and a new version writes them.
 */
async function indexedInFull(store: Store, resource: Resource): Promise<boolean> {
  for (const entry of indexResource(resource)) {
    const criterion =
      entry.lo !== undefined && entry.hi !== undefined
        ? { param: entry.param, kind: 'date' as const, prefix: 'eq' as const, lo: entry.lo, hi: entry.hi }
        : { param: entry.param, kind: 'exact' as const, values: [entry.value] };
    const found = await store.search({
      resourceType: resource.resourceType,
      criteria: [{ param: '_id', kind: 'exact', values: [resource.id!] }, criterion],
      sort: [],
      count: 0,
      offset: 0,
    });
    if (found.total === 0) return false;
  }
  return true;
}

/** Stores each catalog resource, writing a new version only when its content (or its indexing) changed. */
export async function seedStore(store: Store, catalog: Catalog): Promise<void> {
  for (const resource of catalog.resources) {
    let current: Resource | undefined;
    try {
      current = await store.read(resource.resourceType, resource.id!);
    } catch {
      current = undefined;
    }
    if (!current || withoutMeta(current) !== withoutMeta(resource) || !(await indexedInFull(store, current))) await store.update(resource);
  }
}
