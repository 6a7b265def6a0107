// Blocking waits for aiofs' async imports, for C guests built with `wit-bindgen c`.
//
// The generated bindings lower every `async func` import with the component-model async
// ABI: a call such as `aiofs_fs_files_read_file(path, max, &result)` *starts* the
// operation and returns a subtask status; `result` is filled in once the subtask has
// returned. These helpers wait for that with a waitable set, which blocks this guest's
// task (never the host: the operation runs on the host's thread pool meanwhile).
// `aiofs_await_all` keeps many operations in flight at once.
//
// Include after the generated header, which must be generated with `--rename-world aiofs`
// (so that its helpers are called `aiofs_waitable_set_new` and so on).

#ifndef AIOFS_AWAIT_H
#define AIOFS_AWAIT_H

#include <stddef.h>

// Wait until every started call in `statuses` has returned. Calls that returned at once
// need no waiting; the others are joined to one waitable set and waited for together.
static inline void aiofs_await_all(const aiofs_subtask_status_t *statuses, size_t n) {
  aiofs_waitable_set_t set = 0;
  size_t pending = 0;
  for (size_t i = 0; i < n; i++) {
    if (AIOFS_SUBTASK_STATE(statuses[i]) == AIOFS_SUBTASK_RETURNED) continue;
    if (set == 0) set = aiofs_waitable_set_new();
    aiofs_waitable_join(AIOFS_SUBTASK_HANDLE(statuses[i]), set);
    pending++;
  }
  while (pending > 0) {
    aiofs_event_t event;
    aiofs_waitable_set_wait(set, &event);
    if (event.event == AIOFS_EVENT_SUBTASK && event.code == AIOFS_SUBTASK_RETURNED) {
      aiofs_waitable_join(event.waitable, 0);
      aiofs_subtask_drop(event.waitable);
      pending--;
    }
  }
  if (set != 0) aiofs_waitable_set_drop(set);
}

// Wait until one started call has returned (its result is then filled in).
static inline void aiofs_await(aiofs_subtask_status_t status) {
  aiofs_await_all(&status, 1);
}

#endif
