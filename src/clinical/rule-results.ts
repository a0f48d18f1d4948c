import type { QuestionnaireResponse, QuestionnaireResponseItem } from 'fhir/r4';
import { BoundedMap } from '../core/bounded-map';
import { everyRule, type CompiledRules, type Rule, type RuleEnv } from './rules';

/**
 * Rule results for one evaluation, and their reuse between evaluations (memoisation). A rule's result
 * depends only on its inputs (its focus items, or the variables it reads), and answers repeat across
 * patients, so most conditions are looked up rather than run.
 */

/** A rule's value: true, false, or undefined when it yields nothing (unanswered) or a non-boolean. */
export type Truth = boolean | undefined;

/** What scoring reads: the value of a rule for the response being evaluated. */
export interface RuleResults {
  /** The variables every rule without rule-item sees (%resource). */
  readonly base: RuleEnv;
  truth(rule: Rule, env?: RuleEnv): Truth;
}

/**
 * The pure rules that read one item each, grouped by that item: an item's answers decide all of them at
 * once, so they are computed (or found) together, one lookup per item rather than one per rule.
 */
interface ItemGroup {
  linkId: string;
  rules: Rule[];
}

export interface ItemGroups {
  byLinkId: Map<string, ItemGroup>;
  /** Rule.key -> the rule's position in its item's group. */
  slot: Map<string, number>;
}

/** Groups the rules once, when the evaluator is created. */
export function itemGroups(rules: CompiledRules): ItemGroups {
  const all = everyRule(rules);
  const byLinkId = new Map<string, ItemGroup>();
  const slot = new Map<string, number>();
  for (const rule of all) {
    if (!rule.pure || rule.items?.length !== 1 || slot.has(rule.key)) continue;
    const linkId = rule.items[0];
    let group = byLinkId.get(linkId);
    if (!group) byLinkId.set(linkId, (group = { linkId, rules: [] }));
    slot.set(rule.key, group.rules.length);
    group.rules.push(rule);
  }
  return { byLinkId, slot };
}

/** What evaluations share: the results of item groups (per item, by the item's JSON) and of the other rules. */
export class SharedResults {
  readonly items: ResultCache<Truth[]>;
  readonly rules: ResultCache<Truth>;

  constructor(size: number) {
    this.items = new ResultCache<Truth[]>(size);
    this.rules = new ResultCache<Truth>(size);
  }
}

/**
 * Results kept between evaluations: per rule computation (Rule.key) or item, per inputs (the focus
 * items' JSON, or the variables read); each keeps its most recent `perKey` results.
 */
class ResultCache<V> {
  private readonly keys = new Map<string, Map<string, V>>();

  constructor(private readonly perKey: number) {}

  /** null: not known; anything else (undefined included) is a known result. */
  get(key: string, inputs: string): V | null {
    const results = this.keys.get(key);
    if (!results) return null;
    const value = results.get(inputs);
    return value !== undefined || results.has(inputs) ? (value as V) : null;
  }

  set(key: string, inputs: string, value: V): void {
    let results = this.keys.get(key);
    if (!results) this.keys.set(key, (results = new BoundedMap<string, V>(this.perKey)));
    results.set(inputs, value);
  }
}

/**
 * One evaluation of one response: its items indexed by linkId once (what
 * `%resource.repeat(item).where(linkId = ...)` finds, without walking the response per rule), and each
 * rule result computed once (the same condition serves several causes).
 */
export class ResponseRun implements RuleResults {
  private readonly items = new Map<string, QuestionnaireResponseItem[]>();
  private readonly itemJson = new Map<string, string>();
  private readonly results = new ResultCache<Truth>(Infinity);
  private readonly groupResults = new Map<string, Truth[]>();
  readonly base: RuleEnv;

  constructor(
    readonly response: QuestionnaireResponse,
    private readonly groups: ItemGroups,
    private readonly shared: SharedResults | undefined,
  ) {
    this.base = { resource: response };
    this.index(response.item);
  }

  /** Items reachable through `item` (not answer.item), as repeat(item) walks them; identical duplicates once. */
  private index(items: unknown): void {
    if (!Array.isArray(items)) return;
    for (const item of items as QuestionnaireResponseItem[]) {
      if (item === null || typeof item !== 'object') continue;
      if (typeof item.linkId === 'string') {
        const list = this.items.get(item.linkId);
        if (!list) this.items.set(item.linkId, [item]);
        else if (!list.some((other) => sameJson(other, item))) list.push(item);
      }
      this.index(item.item);
    }
  }

  private json(linkId: string): string {
    let text = this.itemJson.get(linkId);
    if (text === undefined) this.itemJson.set(linkId, (text = JSON.stringify(this.items.get(linkId) ?? [])));
    return text;
  }

  /** What a rule's result depends on, as a string: its focus items, or the variables it reads. */
  private inputs(rule: Rule, env: RuleEnv): string {
    if (rule.items) return rule.items.length === 1 ? this.json(rule.items[0]) : rule.items.map((id) => this.json(id)).join('\u0001');
    // %resource is this run's response: the same for every call in the run (and never shared).
    return rule.variables.map((name) => (name === 'resource' ? '' : JSON.stringify(env[name] ?? null))).join('\u0001');
  }

  truth(rule: Rule, env: RuleEnv = this.base): Truth {
    const slot = this.groups.slot.get(rule.key);
    if (slot !== undefined) return this.group(rule.items![0])[slot];
    // Within one run a rule's focus items never change (and it sees no variables): it is run at most once
    // whatever the env. Its items' JSON is written only to look it up among other evaluations' results.
    const local = rule.items ? '' : this.inputs(rule, env);
    const known = this.results.get(rule.key, local);
    if (known !== null) return known;
    const cache = rule.pure ? this.shared?.rules : undefined;
    const inputs = cache && rule.items ? this.inputs(rule, env) : local;
    const cached = cache ? cache.get(rule.key, inputs) : null;
    const result = cached !== null ? cached : this.run(rule, env);
    this.results.set(rule.key, local, result);
    if (cached === null) cache?.set(rule.key, inputs, result);
    return result;
  }

  /** The results of every rule on one item, in slot order: found for the item's JSON, or computed. */
  private group(linkId: string): Truth[] {
    let results = this.groupResults.get(linkId);
    if (results) return results;
    const json = this.shared ? this.json(linkId) : '';
    const cached = this.shared ? this.shared.items.get(linkId, json) : null;
    results = cached ?? this.groups.byLinkId.get(linkId)!.rules.map((rule) => this.run(rule, this.base));
    if (!cached) this.shared?.items.set(linkId, json, results);
    this.groupResults.set(linkId, results);
    return results;
  }

  private run(rule: Rule, env: RuleEnv): Truth {
    const focus = rule.items ? rule.items.flatMap((id) => this.items.get(id) ?? []) : this.response;
    const [value] = rule.evaluate(focus, rule.items ? {} : env);
    return typeof value === 'boolean' ? value : undefined;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
