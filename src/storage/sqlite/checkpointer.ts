import fs from 'node:fs';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints and WAL syncs of one SQLite file on a thread of their own.
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
 * The same thread syncs the WAL file when a commit group asks (sync()): a write is acknowledged only
 * once its COMMIT is on disk. Synced in libuv's thread pool instead, the sync waits in one queue with
 * everything else there, first of all the JWT signature checks of CDS Hooks calls (about 0.9 ms of CPU
 * each for ES384): with auth on, a commit then waited behind dozens of them (8 ms median, 14 ms at p90,
 * measured), holding the store's queue, and every request's reads and writes with it. Until the thread
 * runs, and should it stop, the sync runs in the thread pool as before (walSync).
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
const fs = require('node:fs');
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
parentPort.on('message', (message) => {
  if (message.sync !== undefined) {
    // Opened per sync: the path always names the live WAL file. fdatasync covers every write to the file
    // so far, whichever descriptor made it.
    let syncError;
    try {
      const fd = fs.openSync(workerData.walPath, 'r');
      try {
        fs.fdatasyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      syncError = String((err && err.message) || err);
    }
    parentPort.postMessage(syncError === undefined ? { synced: message.sync } : { synced: message.sync, syncError });
    return;
  }
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface Checkpointer {
  /**
   * Syncs the WAL file to disk: resolves once every byte committed before the call is durable, on the
   * thread when it runs, else in libuv's thread pool. Rejects when the sync failed.
   */
  sync(): Promise<void>;
  /** Stops the thread; a checkpoint under way finishes first. */
  close(): Promise<void>;
}

/**
 * fdatasync of the WAL file in libuv's thread pool. Opened per sync: a checkpoint may reset the
 * file, and the path always names the live one. Every byte of every COMMIT so far is then on disk.
 */
async function walSync(walPath: string): Promise<void> {
  const handle = await fs.promises.open(walPath, 'r');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

interface PendingSync {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Starts checkpointing `filename` (a database in WAL mode, already created) on a worker thread.
 * `onError` hears of a failed checkpoint or a thread that stopped; the backstop checkpoint then remains.
 */
export function startCheckpointer(filename: string, onError: (message: string) => void = () => undefined): Checkpointer {
  const walPath = `${filename}-wal`;
  // The running thread, which answers syncs; before it starts and after it stops they run in the thread pool.
  let worker: Worker | undefined;
  let exited: Promise<void> = Promise.resolve();
  let closed = false;
  let nextSync = 0;
  const pending = new Map<number, PendingSync>();
  // A thread that stops with syncs unanswered: each runs in the thread pool instead, never acknowledged unsynced.
  const syncPendingInPool = (): void => {
    for (const [id, waiter] of pending) {
      pending.delete(id);
      walSync(walPath).then(waiter.resolve, waiter.reject);
    }
  };
  const start = (): void => {
    const thread = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { filename, walPath, driver: require.resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
      // It holds one small connection and a timer: a small heap keeps the process's resident size down.
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, codeRangeSizeMb: 2, stackSizeMb: 1 },
      stdout: false,
      stderr: false,
    });
    // The thread keeps the process alive only while a sync awaits its answer.
    thread.unref();
    thread.on('message', (message: { error?: string; synced?: number; syncError?: string }) => {
      if (message.error) onError(message.error);
      if (message.synced === undefined) return;
      const waiter = pending.get(message.synced);
      if (!waiter) return;
      pending.delete(message.synced);
      if (pending.size === 0) thread.unref();
      if (message.syncError === undefined) waiter.resolve();
      else waiter.reject(new Error(`The WAL file could not be synced: ${message.syncError}`));
    });
    thread.on('error', (err) => onError(err.message));
    exited = new Promise<void>((resolve) =>
      thread.once('exit', () => {
        worker = undefined;
        syncPendingInPool();
        resolve();
      }),
    );
    worker = thread;
  };
  const timer = setTimeout(start, CHECKPOINTER_START_DELAY_MS);
  timer.unref();
  return {
    sync: () => {
      if (!worker) return walSync(walPath);
      const thread = worker;
      const id = nextSync++;
      return new Promise<void>((resolve, reject) => {
        if (pending.size === 0) thread.ref();
        pending.set(id, { resolve, reject });
        thread.postMessage({ sync: id });
      });
    },
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
