import path from 'node:path';

/**
 * The project folder (questionnaires/, fhir-resources/, config/), whether this code runs from src/core/
 * (ts-jest) or from the build in dist/src/core/.
 */
export const PROJECT_ROOT = path.resolve(__dirname, ...(__dirname.split(path.sep).includes('dist') ? ['..', '..', '..'] : ['..', '..']));
