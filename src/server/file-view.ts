/** How a job's files look in the API: rows with their task's label, and the same as a tree. */
import type { FileRecord, JobDetail } from '../store/store.js';
import type { FileTreeNode, FileView } from './api-schemas.js';
import { iso } from './job-view.js';

export function fileView(f: FileRecord, detail: JobDetail | undefined): FileView {
  const task = f.taskId === null ? undefined : detail?.tasks.find((t) => t.id === f.taskId);
  return {
    path: f.path,
    size: f.size,
    sha256: f.sha256,
    kind: f.kind,
    task: task ? `${task.stage}/${task.node}/${task.name}` : null,
    taskId: f.taskId,
    node: task ? task.node : null,
    nodeId: f.nodeId,
    createdAt: iso(f.createdAt),
  };
}

/** The files as nested folders; a folder's size is what is under it. */
export function treeOf(files: readonly FileView[]): FileTreeNode {
  const root: FileTreeNode = { name: '', path: '', type: 'dir', size: 0, children: [] };
  for (const f of files) {
    const parts = f.path.split('/');
    let node = root;
    node.size += f.size;
    parts.forEach((name, i) => {
      const last = i === parts.length - 1;
      const children = node.children ?? [];
      node.children = children;
      let next = children.find((c) => c.name === name && c.type === (last ? 'file' : 'dir'));
      if (!next) {
        next = last
          ? { name, path: f.path, type: 'file', size: f.size, file: f }
          : { name, path: parts.slice(0, i + 1).join('/'), type: 'dir', size: 0, children: [] };
        children.push(next);
      }
      if (!last) next.size += f.size;
      node = next;
    });
  }
  return root;
}
