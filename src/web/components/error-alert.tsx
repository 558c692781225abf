/** An error said to the user (announced by screen readers); nothing when there is none. */
export function ErrorAlert({ message, id }: { message: string | undefined; id?: string }) {
  if (!message) return null;
  return (
    <p id={id} class="error" role="alert">
      {message}
    </p>
  );
}
