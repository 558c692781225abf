/**
 * The signed-in token lives in sessionStorage: it lasts while this tab is open and is not shared
 * with other tabs or kept after the browser closes; signing out removes it.
 */
const KEY = 'jobhub.token';

export function savedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
