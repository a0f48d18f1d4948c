import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints of one SQLite file on a thread of their own.
 *
 * A checkpoint copies the pages committed to the WAL back into the database file and syncs that file.
 * Left to SQLite, the connection that commits runs it, whenever the WAL has grown past
 * `wal_autocheckpoint` pages: the event loop then stops for the copying and the sync (a fifth of a
 * create's time on the main thread, measured, and a stall for every request waiting). Here a worker
 * thread with its own connection runs a PASSIVE checkpoint every CHECKPOINT_INTERVAL_MS: PASSIVE
 * never waits for a lock, so the service's writes and reads go on meanwhile, and SQLite's own locking
 * keeps the two connections consistent. The service's connection keeps a high `wal_autocheckpoint`
 * (WAL_PAGES_BEFORE_OWN_CHECKPOINT) as a backstop, should this thread fall behind or fail to start.
 *
 * The worker is a few lines of plain JavaScript (evaluated, so the same code runs from dist/ and under
 * ts-jest); it loads the same better-sqlite3 the service uses.
 */

/** How often the worker checkpoints. At full create load the WAL grows by a few thousand pages a second. */
export const CHECKPOINT_INTERVAL_MS = 100;

/**
 * The thread starts this long after the store opens: starting a thread (a JavaScript engine of its own)
 * while the service starts competed with it for the CPU and delayed its first answer by about 100 ms.
 * Until then the backstop below checkpoints, should it be needed.
 */
export const CHECKPOINTER_START_DELAY_MS = 2000;

/** The service connection's own automatic checkpoint, a backstop: 16 MB of WAL (SQLite's default is 1000 pages). */
export const WAL_PAGES_BEFORE_OWN_CHECKPOINT = 4000;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true });
// NORMAL: a checkpoint syncs the database file before SQLite may reuse the WAL (never OFF here).
db.pragma('synchronous = NORMAL');
db.pragma('cache_size = -1024');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.run();
  } catch (err) {
    parentPort.postMessage({ error: String((err && err.message) || err) });
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /** Stops the thread; a checkpoint under way finishes first. */
  close(): Promise<void>;
}

/**
 * Starts checkpointing `filename` (a database in WAL mode, already created) on a worker thread.
 * `onError` hears of a failed checkpoint or a thread that stopped; the backstop checkpoint then remains.
 */
export function startCheckpointer(filename: string, onError: (message: string) => void = () => undefined): Checkpointer {
  let worker: Worker | undefined;
  let exited: Promise<void> = Promise.resolve();
  let closed = false;
  const start = (): void => {
    const thread = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { filename, driver: require.resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
      // It holds one small connection and a timer: a small heap keeps the process's resident size down.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 2, stackSizeMb: 1 },
      stdout: false,
      stderr: false,
    });
    // The thread never keeps the process alive on its own.
    thread.unref();
    thread.on('message', (message: { error?: string }) => {
      if (message.error) onError(message.error);
    });
    thread.on('error', (err) => onError(err.message));
    exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    worker = thread;
  };
  const timer = setTimeout(start, CHECKPOINTER_START_DELAY_MS);
  timer.unref();
  return {
    close: async () => {
      if (closed) return exited;
      closed = true;
      clearTimeout(timer);
      if (!worker) return;
      // Referenced again while it stops: a caller awaiting close() must not see the process end first
      // (a thread busy with a long checkpoint would otherwise let an otherwise idle process exit).
      worker.ref();
      worker.postMessage('close');
      await exited;
    },
  };
}
