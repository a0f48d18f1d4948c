/**
 * The JSON body parser of /fhir and /cds-services: size limit, UTF-8 only, structural limits (depth,
 * array length) and prototype-pollution and duplicate-key guards. Every refusal is an
 * OperationOutcomeError for the surface's error handler.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { badRequest, OperationOutcomeError, payloadTooLarge, unsupportedMediaType } from '../../core/outcome';

export const JSON_MEDIA_TYPES = ['application/json', 'application/fhir+json', 'application/json+fhir', 'application/*+json'];
/** Keys that could reach Object.prototype through a later merge/assign; never legitimate in FHIR or CDS Hooks JSON. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export interface JsonLimits {
  /** Deepest nesting of objects/arrays accepted (FHIR resources nest about 10 deep). */
  maxDepth: number;
  /** Longest array accepted. */
  maxArrayLength: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxDepth: 64, maxArrayLength: 10_000 };

/**
 * JSON.parse with limits: one pass over the raw text checks nesting (before anything deep is built),
 * array lengths, duplicate and forbidden keys; then JSON.parse builds the value.
 * Throws OperationOutcomeError 400 (bad JSON, too deep, duplicate or forbidden key) or 413 (array too long).
 */
export function parseJsonSafely(text: string, limits: JsonLimits = DEFAULT_JSON_LIMITS): unknown {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  checkText(source, limits);
  try {
    return JSON.parse(source);
  } catch {
    throw badRequest('Request body is not valid JSON');
  }
}

/** Objects with more keys than this check duplicates with a Set; smaller ones by comparing (no allocation). */
const KEY_SET_THRESHOLD = 16;

/**
 * One pass over the raw text: nesting depth, array lengths, forbidden keys and duplicate object keys
 * (JSON.parse keeps the last, another parser the first: `{"resourceType":"Patient","resourceType":...}`
 * must not mean two things). Keys are compared decoded, so an escaped spelling is the same key.
 * Malformed text is left for JSON.parse to refuse.
 *
 * It runs on every request body, so it allocates little: the open objects and arrays are a stack of
 * numbers, the keys of the open objects one shared list (each object's from its start in the list).
 */
function checkText(text: string, limits: JsonLimits): void {
  // Per open container: 0 for an object, else 1 + the elements of an array seen so far.
  const kinds: number[] = [];
  // Per open container: where its keys start in `keys` (objects), and whether the next string is a key.
  const keyStarts: number[] = [];
  const expectKey: boolean[] = [];
  const keys: string[] = [];
  const keySets: (Set<string> | undefined)[] = [];
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (end < 0) throw badRequest('Request body is not valid JSON');
      if (depth > 0) {
        const top = depth - 1;
        if (kinds[top] === 0 && expectKey[top]) {
          addKey(text.slice(i + 1, end), top);
          expectKey[top] = false;
        } else if (kinds[top] === 1) kinds[top] = 2;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (depth > 0 && kinds[depth - 1] === 1) kinds[depth - 1] = 2;
      if (depth >= limits.maxDepth) throw badRequest(`JSON nesting deeper than ${limits.maxDepth} levels`);
      kinds[depth] = c === 0x7b ? 0 : 1;
      keyStarts[depth] = keys.length;
      expectKey[depth] = c === 0x7b;
      keySets[depth] = undefined;
      depth++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth > 0) {
        depth--;
        if (kinds[depth] === 0) keys.length = keyStarts[depth];
        keySets[depth] = undefined;
      }
    } else if (c === 0x2c /* , */) {
      if (depth === 0) continue;
      const top = depth - 1;
      if (kinds[top] === 0) expectKey[top] = true;
      else if (++kinds[top] - 1 > limits.maxArrayLength) throw payloadTooLarge(`JSON array longer than ${limits.maxArrayLength} items`);
    } else if (depth > 0 && kinds[depth - 1] === 1 && c > 0x20) {
      // A number, true, false or null opens the array's first element.
      kinds[depth - 1] = 2;
    }
  }

  function addKey(raw: string, top: number): void {
    let key = raw;
    if (raw.includes('\\')) {
      try {
        key = JSON.parse(`"${raw}"`) as string;
      } catch {
        throw badRequest('Request body is not valid JSON');
      }
    }
    if (FORBIDDEN_KEYS.has(key)) throw badRequest(`JSON key "${key}" is not allowed`);
    const from = keyStarts[top];
    let set = keySets[top];
    if (!set && keys.length - from >= KEY_SET_THRESHOLD) set = keySets[top] = new Set(keys.slice(from));
    if (set ? set.has(key) : keys.indexOf(key, from) >= 0) throw badRequest(`JSON key "${key.slice(0, 64)}" appears twice in one object`);
    set?.add(key);
    keys.push(key);
  }
}

/** Index of the quote closing the string opened at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let backslashes = 0;
    for (let j = quote - 1; text.charCodeAt(j) === 0x5c; j--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

export interface JsonBodyParserOptions extends Partial<JsonLimits> {
  /** Largest body in bytes (config.maxBodyBytes); larger -> 413. */
  maxBytes: number;
  /** Refuse POST/PUT/PATCH bodies that are not JSON with 415 (default true). */
  requireJsonMediaType?: boolean;
  /** Refuse a JSON body that is not an object (a FHIR resource, a CDS request) with 400 (default true). */
  requireObject?: boolean;
}

/**
 * Replacement for express.json(): reads the body as text (charset decoded, gzip/deflate inflated,
 * size-limited by body-parser) and parses it with parseJsonSafely. Every failure becomes an
 * OperationOutcomeError: 413 too large, 415 wrong media type or charset, 400 otherwise.
 * An empty body leaves req.body undefined.
 */
export function createJsonBodyParser(options: JsonBodyParserOptions): RequestHandler {
  const limits: JsonLimits = {
    maxDepth: options.maxDepth ?? DEFAULT_JSON_LIMITS.maxDepth,
    maxArrayLength: options.maxArrayLength ?? DEFAULT_JSON_LIMITS.maxArrayLength,
  };
  const requireJson = options.requireJsonMediaType ?? true;
  const requireObject = options.requireObject ?? true;
  const readText = express.text({ type: JSON_MEDIA_TYPES, limit: options.maxBytes, defaultCharset: 'utf-8' });

  return (req: Request, res: Response, next: NextFunction) => {
    const notJson = requireJson ? nonJsonBodyError(req) : undefined;
    if (notJson) return next(notJson);
    // FHIR and CDS Hooks bodies are UTF-8 (RFC 8259); any other declared charset is refused.
    const charset = CHARSET_PARAMETER.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset && charset !== 'utf-8' && charset !== 'utf8') {
      return next(unsupportedMediaType(`Request body must be UTF-8 (got charset ${charset.slice(0, 32)})`));
    }
    readText(req, res, (err?: unknown) => {
      if (err) return next(bodyReadError(err));
      if (typeof req.body !== 'string') return next();
      const text = req.body;
      req.body = undefined;
      if (!text.trim()) return next();
      try {
        const value = parseJsonSafely(text, limits);
        if (requireObject && (value === null || typeof value !== 'object' || Array.isArray(value))) {
          throw badRequest('Request body must be a JSON object');
        }
        req.body = value;
        next();
      } catch (e) {
        next(e);
      }
    });
  };
}

const BODY_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);
const CHARSET_PARAMETER = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/**
 * The JSON media-type rule: 415 for a POST/PUT/PATCH whose body is not declared JSON
 * (JSON_MEDIA_TYPES), else undefined. The parser applies it unless `requireJsonMediaType: false`
 * (the FHIR body stage applies it itself, with its own form and FHIR-type rules).
 */
export function nonJsonBodyError(req: Request): OperationOutcomeError | undefined {
  if (BODY_METHODS.has(req.method) && hasBody(req) && !req.is(JSON_MEDIA_TYPES)) {
    return unsupportedMediaType('Request body must be application/fhir+json or application/json');
  }
  return undefined;
}

function hasBody(req: Request): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

/** body-parser's http-errors -> OperationOutcomeError (no stack, no internals). */
function bodyReadError(err: unknown): OperationOutcomeError {
  if (err instanceof OperationOutcomeError) return err;
  const e = err as { status?: number; type?: string };
  if (e.status === 413 || e.type === 'entity.too.large') return payloadTooLarge();
  if (e.status === 415) return unsupportedMediaType('Unsupported charset or content encoding');
  return badRequest('Request body could not be read');
}
