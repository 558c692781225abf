/** A job's files, each with a download button (downloads carry the token header, so via fetch). */
import { useState } from 'preact/hooks';
import { bytes } from '../format.js';
import { useSession } from '../session-context.js';
import type { FileView } from '../types.js';
import { ErrorAlert } from './error-alert.js';

export function Files({ jobId, files }: { jobId: number; files: FileView[] }) {
  const { api } = useSession();
  const [error, setError] = useState<string | undefined>();
  const download = async (f: FileView) => {
    try {
      const blob = await api.blob(
        `/api/v1/jobs/${jobId}/files/${f.path.split('/').map(encodeURIComponent).join('/')}`,
      );
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = f.path.split('/').pop() ?? 'file';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  if (files.length === 0) return <p class="muted">No files.</p>;
  return (
    <>
      <ErrorAlert message={error} />
      <ul class="files">
        {files.map((f) => (
          <li key={f.path}>
            <button type="button" class="link" onClick={() => void download(f)}>
              {f.path}
            </button>{' '}
            <span class="muted small">
              {bytes(f.size)}
              {f.task ? ` · ${f.task}` : ''}
            </span>
          </li>
        ))}
      </ul>
    </>
  );
}
