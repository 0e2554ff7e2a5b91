// The login page: a browser keeps the #fragment of the page it was sent away from
// (/#history/12 becomes /login?next=/#history/12), but the server never sees it. Carry
// it in the form's `next`, so logging in lands on the very panel that was asked for.
const next = document.querySelector('input[name="next"]');
if (next && location.hash && !next.value.includes("#")) next.value += location.hash;
