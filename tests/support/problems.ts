/**
 * The problems a loader reports by throwing an error that lists them (ConfigError, TrustedClientsError):
 * none when `load` succeeds; any other error is rethrown.
 */
export function problemsThrown(load: () => void, ErrorType: abstract new (...args: never[]) => { problems: string[] }): string[] {
  try {
    load();
  } catch (err) {
    if (err instanceof ErrorType) return err.problems;
    throw err;
  }
  return [];
}
