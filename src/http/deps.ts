import type { Logger } from 'pino';
import type { Config } from '../config/config';
import type { Store } from '../storage/store';
import type { Evaluator } from '../clinical/types';

/** Everything the app needs, passed in (tests build it with SQLite :memory: and a fixed clock). */
export interface AppDeps {
  config: Config;
  store: Store;
  evaluator: Evaluator;
  logger: Logger;
  /** Current time; tests pass a fixed clock. */
  now: () => Date;
}
