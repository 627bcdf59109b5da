import { LabError } from '../../api/errors';
import { checkOutputFile, OutputFileError } from '../../base/output-file';

/** An export writes only a new file, or an existing file of its type when asked to overwrite (main/base/output-file.ts). */
export function writableOut(out: string, format: string, overwrite?: boolean): string {
  try {
    return checkOutputFile(out, { format, overwrite });
  } catch (e) {
    if (e instanceof OutputFileError) throw e.reason === 'exists' ? new LabError('BAD_REQUEST', e.message, { path: e.path }, 'FILE_EXISTS') : new LabError('BAD_REQUEST', e.message);
    throw e;
  }
}
