import fs from 'node:fs';
import path from 'node:path';
import { isHookName, type HookName, type ServiceDefinition } from '../../core/cds-hooks';
import { isObject } from '../../core/json';
import type { CdsService, ServiceHandler } from './service';

/**
 * The CDS services are the modules of ./services/: each exports `definition` (its discovery entry)
 * and `handler`. The folder is read once, at start-up; every module is checked and a module that is
 * not a complete service is refused (start-up fails), so discovery and the router cannot disagree.
 * Discovery lists the services in file-name order.
 */

export const SERVICES_DIR = path.join(__dirname, 'services');

export class ServiceModuleError extends Error {
  override name = 'ServiceModuleError';
}

export interface ServiceRegistry {
  /** In discovery order. */
  services: readonly CdsService[];
  /** The discovery response body's services. */
  definitions: readonly ServiceDefinition[];
  find(id: string): CdsService | undefined;
  /** The first service for a hook (the portal calls the patient-view one). */
  forHook(hook: HookName): CdsService | undefined;
}

/** A CDS service id: the last segment of its URL (CDS Hooks 2.0 "id"). */
const SERVICE_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;
const REQUIRED_TEXT = ['title', 'description', 'usageRequirements'] as const;

/** Checks one module's exports: a service whose id is its file name, with a complete discovery entry. */
export function checkServiceModule(exports: unknown, file: string): CdsService {
  const where = `CDS service module ${file}`;
  const expectedId = path.basename(file).replace(/\.(ts|js)$/, '');
  if (!isObject(exports)) throw new ServiceModuleError(`${where}: exports nothing`);
  const { definition, handler } = exports;
  if (!isObject(definition)) throw new ServiceModuleError(`${where}: must export \`definition\` (its discovery entry)`);
  if (typeof handler !== 'function') throw new ServiceModuleError(`${where}: must export \`handler\` (a function)`);
  if (typeof definition.id !== 'string' || !SERVICE_ID.test(definition.id)) {
    throw new ServiceModuleError(`${where}: definition.id must be a service id (lower-case letters, digits, hyphens)`);
  }
  if (definition.id !== expectedId) throw new ServiceModuleError(`${where}: definition.id "${definition.id}" must be the file name`);
  if (!isHookName(definition.hook)) {
    throw new ServiceModuleError(`${where}: definition.hook must be a hook name such as patient-view (lower case, digits, - and .)`);
  }
  for (const field of REQUIRED_TEXT) {
    const value = definition[field];
    if (typeof value !== 'string' || !value.trim()) throw new ServiceModuleError(`${where}: definition.${field} is required`);
  }
  if (!isObject(definition.prefetch) || !Object.values(definition.prefetch).every((q) => typeof q === 'string' && q !== '')) {
    throw new ServiceModuleError(`${where}: definition.prefetch must map keys to query templates`);
  }
  return { definition: definition as unknown as ServiceDefinition, handler: handler as ServiceHandler };
}

/** Builds the registry from service modules (checked; ids must be unique). */
export function createServiceRegistry(services: CdsService[]): ServiceRegistry {
  const byId = new Map<string, CdsService>();
  for (const s of services) {
    if (byId.has(s.definition.id)) throw new ServiceModuleError(`CDS service "${s.definition.id}" is defined twice`);
    byId.set(s.definition.id, s);
  }
  return {
    services,
    definitions: services.map((s) => s.definition),
    find: (id) => byId.get(id),
    forHook: (hook) => services.find((s) => s.definition.hook === hook),
  };
}

/**
 * Loads every module of `dir` (default ./services/). Modules are the files with this file's extension
 * (.ts under ts-jest, .js when built); declaration and source-map files are not modules.
 */
export function loadServices(dir: string = SERVICES_DIR): ServiceRegistry {
  const ext = path.extname(__filename);
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts'))
    .sort();
  if (!files.length) throw new ServiceModuleError(`No CDS service modules in ${dir}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the service modules are found at start-up
  return createServiceRegistry(files.map((f) => checkServiceModule(require(path.join(dir, f)), f)));
}

let defaultRegistry: ServiceRegistry | undefined;

/** The services of ./services/, loaded on first use. */
export function defaultServices(): ServiceRegistry {
  return (defaultRegistry ??= loadServices());
}

export function findService(id: string): ServiceDefinition | undefined {
  return defaultServices().find(id)?.definition;
}
