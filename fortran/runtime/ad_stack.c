/*
 * Push/pop stacks used by the Tapenade-generated adjoint (fortran/generated).
 *
 * The reverse sweep needs, in reverse order, values the forward sweep
 * overwrote and the branches it took. Generated code calls the routines
 * below with Fortran linkage (lower case, trailing underscore, arguments by
 * reference). A push of n items of a type is popped by the matching pop of
 * the same n and type, which the generated code guarantees; so values and
 * branch choices can live on two separate stacks, each popped in the exact
 * reverse order of its pushes.
 *
 * - values: reals and integers, each push rounded up to 8-byte slots;
 * - controls: branch choices, 16 bits each.
 * Scalars are stored through typed lvalues (double, int32_t, uint16_t), none
 * of which may alias the size_t counters. With byte copies, every store could
 * have changed the counters, so the compiler reloaded a stack's top from
 * memory after each push: one chain through memory across all the pushes of
 * an inlined cell loop, which serialised cells that are otherwise independent.
 *
 * Each thread has its own stacks: an OpenMP loop with a static schedule gives
 * a thread the same iterations in the forward and the reverse sweep, so what
 * a thread pushes is exactly what it pops.
 *
 * Spilling (smash_tape_spill_configure): a tape holding more than a limit writes
 * its oldest bytes (an eighth of the limit at a time) to a temporary file and reads them back when pops reach them.
 * A stack is only ever used at its top, so the checkpoint snapshots of a long run
 * (pushed first, popped one per chunk of the reverse sweep) wait on disk while
 * the memory holds the newest part. The file is unlinked as soon as it is made
 * (the system frees it when the tape is released or the process ends, even on
 * a crash), and bytes read back that stay unchanged are not written again.
 *
 * A spill file that cannot be made or written (a full disk, a file size limit) does not stop
 * the gradient: that tape keeps its bytes in memory from then on (beyond the limit), and the
 * first failure's errno and size wait for smash_tape_spill_failure_, which the gradient's
 * caller reads to raise a Python OSError once the gradient is over. Only a failed read back
 * of bytes already spilled, which the sweep cannot do without, still aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Only code of the same extension module calls these: hidden symbols make
 * those calls direct instead of going through the PLT. */
#pragma GCC visibility push(hidden)

typedef struct {
    unsigned char *data; /* the newest bytes of the tape: those above `base` */
    size_t top;          /* bytes held in data */
    size_t end;          /* pushes beyond it take the cold path: the capacity, or less under a spill limit */
    size_t capacity;
    size_t peak;         /* largest top seen by a pop since the last release */
    size_t floor;        /* file_valid - base: data[0 .. floor) equals the spill file's copy */
    size_t base;         /* bytes of the tape below data[0], in the spill file */
    size_t file_valid;   /* the spill file's first file_valid bytes are the tape's (base <= it <= base + top) */
    size_t written;      /* bytes written to the spill file since the last release */
    int fd;              /* spill file, -1 before the first spill */
    int held;            /* 1 once spilling failed: the tape keeps every byte in memory */
} tape;

#define EMPTY_TAPE {NULL, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0}

/* initial-exec: the library's few bytes of thread-local data sit in the static
 * TLS block, so each push reads them directly instead of calling __tls_get_addr. */
#define SMASH_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static SMASH_TLS tape values = EMPTY_TAPE;
static SMASH_TLS tape controls = EMPTY_TAPE;

/* Spilling, for every thread's tapes: the bytes a tape may hold in memory (0: no
 * spilling) and the folder of the spill files. Set between gradients only. */
static size_t spill_limit = 0;
static char spill_folder[4096] = "/tmp";

/* The first spill that failed since the last smash_tape_spill_failure_: its errno (0: none) and the
 * size the tape's file would have reached. Any thread may fail: the first to claim the errno writes. */
static int spill_errno = 0;
static size_t spill_failed_bytes = 0;

/* A tape up to this size stays allocated between gradients: a calibration makes
 * thousands of them, and each fresh tape was page-faulted in again (4-7 % of a Cance
 * gradient). Larger tapes (country-sized grids) are freed after each gradient. */
#define KEEP_BYTES ((size_t)64 << 20)
#define SLOT(bytes) (((size_t)(bytes) + 7) & ~(size_t)7)

static __attribute__((noinline, cold, noreturn)) void read_back_failed(size_t bytes) {
    fprintf(stderr,
            "smash adjoint: reading back the tape's spill file in %s failed (%s) at %zu bytes: "
            "the gradient cannot go on\n",
            spill_folder, strerror(errno), bytes);
    abort();
}

/* Remember the first failed spill (errno, bytes); the tape keeps its bytes in memory from now on. */
static __attribute__((noinline, cold)) void spill_failed(tape *t, size_t bytes) {
    int expected = 0, code = errno ? errno : EIO;
    if (__atomic_compare_exchange_n(&spill_errno, &expected, code, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        spill_failed_bytes = bytes;
    t->held = 1;
}

/* Copy n bytes between buffer and the spill file at offset: 0, or -1 with errno set (writes only:
 * a failed read aborts). */
static int file_io(tape *t, int writing, unsigned char *buffer, size_t n, size_t offset) {
    while (n > 0) {
        ssize_t done = writing ? pwrite(t->fd, buffer, n, (off_t)offset) : pread(t->fd, buffer, n, (off_t)offset);
        if (done <= 0) {
            if (done < 0 && errno == EINTR) continue;
            if (done == 0) errno = writing ? ENOSPC : EIO;
            if (!writing) read_back_failed(offset + n);
            return -1;
        }
        buffer += done;
        n -= (size_t)done;
        offset += (size_t)done;
    }
    return 0;
}

static void reserve(tape *t, size_t capacity) {
    unsigned char *data = realloc(t->data, capacity);
    if (data == NULL) {
        fprintf(stderr, "smash adjoint: out of memory growing the tape to %zu bytes\n", capacity);
        abort();
    }
    t->data = data;
    t->capacity = capacity;
}

/* Write the oldest `n` bytes held in memory to the spill file (those not there already) and drop
 * them; when the file cannot take them, keep them (and every later byte) in memory (spill_failed). */
static void spill(tape *t, size_t n) {
    if (t->fd < 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/smash-tape-XXXXXX", spill_folder);
        t->fd = mkstemp(path);
        if (t->fd < 0) {
            spill_failed(t, n);
            return;
        }
        unlink(path); /* gone from the folder now; its space is freed when the tape closes it */
    }
    size_t end = t->base + n;
    if (end > t->file_valid) {
        size_t from = t->file_valid - t->base; /* file_valid >= base */
        /* A partial write changes nothing the tape reads: file_valid stays where it was. */
        if (file_io(t, 1, t->data + from, n - from, t->file_valid) != 0) {
            spill_failed(t, end);
            return;
        }
        t->written += n - from;
        t->file_valid = end;
    }
    memmove(t->data, t->data + n, t->top - n);
    t->top -= n;
    t->base = end;
    t->floor = t->file_valid - t->base; /* invariant: data[0 .. floor) is the file's [base, file_valid) */
}

/* Bytes a spill or a read back moves at a time: an eighth of the limit. A tape then stays between
 * 7/8 of its limit and the limit, so a working set (a chunk's taped steps and the snapshots being
 * reversed) that fits in 7/8 of it never goes to disk; spilling down to half the limit sent a
 * France chunk's own tape to disk and back at every chunk (20.9 GB written over 720 steps). */
#define SPILL_STEP(limit) ((limit) / 8)

/* Room for `extra` more bytes: past the spill limit, spill the oldest bytes down to the limit less
 * SPILL_STEP (the newest stay: the pops that follow pushes find them in memory); grow when that is
 * not enough. */
static __attribute__((noinline, cold)) void grow(tape *t, size_t extra) {
    size_t cap = t->held ? 0 : spill_limit; /* a tape whose spill failed grows in memory */
    if (cap > 0 && t->top + extra > cap) {
        size_t room = cap - SPILL_STEP(cap);
        size_t keep = room > extra ? room - extra : 0;
        if (t->top > keep) spill(t, t->top - keep);
        if (t->held) cap = 0;
    }
    if (t->top + extra > t->capacity) {
        size_t capacity = t->capacity ? t->capacity : ((size_t)1 << 20);
        while (capacity < t->top + extra) capacity *= 2;
        if (cap > 0 && capacity > cap && t->top + extra <= cap) capacity = cap;
        reserve(t, capacity);
    }
    /* The next push past the limit comes back here (this one may exceed it: an array larger than half of it). */
    size_t limit = t->top + extra > cap ? t->top + extra : cap;
    t->end = cap > 0 && limit < t->capacity ? limit : t->capacity;
}

static __attribute__((noinline, cold)) void underflow(size_t n, size_t held) {
    fprintf(stderr, "smash adjoint: tape underflow (pop of %zu bytes, %zu held)\n", n, held);
    abort();
}

/* A pop of n bytes from below the floor: either the bytes are in memory (the spill file's copy of
 * what lies above the new top is stale from now on) or the older ones are read back first. */
static __attribute__((noinline, cold)) void pop_below_floor(tape *t, size_t n) {
    if (n > t->top) {
        if (n > t->top + t->base) underflow(n, t->top + t->base);
        /* Read back SPILL_STEP (at least the missing bytes) below what memory holds. */
        size_t want = SPILL_STEP(spill_limit) > n - t->top ? SPILL_STEP(spill_limit) : n - t->top;
        size_t back = want < t->base ? want : t->base;
        if (t->top + back > t->capacity) {
            reserve(t, t->top + back);
            t->end = t->capacity;
        }
        memmove(t->data + back, t->data, t->top);
        file_io(t, 0, t->data, back, t->base - back);
        t->base -= back;
        t->top += back;
        t->floor = t->file_valid - t->base;
    }
    /* Pushes will overwrite what lies above the new top: the file's copy of it is stale. The floor
     * follows down (each pop below it comes here), so that hot pops never pass file_valid unseen. */
    if (t->top - n < t->floor) {
        t->floor = t->top - n;
        t->file_valid = t->base + t->floor;
    }
}

/* Address of n new bytes on top of t. */
static inline void *push_at(tape *t, size_t n) {
    if (__builtin_expect(t->top + n > t->end, 0)) grow(t, n);
    void *p = t->data + t->top;
    t->top += n;
    return p;
}

/* Address of the n bytes popped from the top of t. The peak is taken here:
 * a tape is at its largest just before a pop follows pushes. */
static inline void *pop_at(tape *t, size_t n) {
    if (t->top > t->peak) t->peak = t->top;
    if (__builtin_expect(n + t->floor > t->top, 0)) pop_below_floor(t, n);
    t->top -= n;
    return t->data + t->top;
}

/* Bytes currently held in memory by the calling thread's tapes (for diagnostics). */
size_t smash_tape_bytes(void) { return values.top + controls.top; }

/* Peak size in memory of the calling thread's tapes since their last release (the two
 * peaks are reached at the same turn of the sweep, so their sum is the peak). */
double smash_tape_peak_bytes_(void) { return (double)(values.peak + controls.peak); }

/* Bytes the calling thread's tapes wrote to their spill files since their last release. */
double smash_tape_spilled_bytes_(void) { return (double)(values.written + controls.written); }

static void release(tape *t) {
    if (t->fd >= 0) close(t->fd);
    if (t->capacity > KEEP_BYTES) {
        free(t->data);
        *t = (tape)EMPTY_TAPE;
    } else {
        unsigned char *data = t->data;
        size_t capacity = t->capacity;
        *t = (tape)EMPTY_TAPE;
        t->data = data;
        t->capacity = capacity;
    }
}

/* The first spill that failed since the last call (errno, 0 if none) and, in *bytes, the size the
 * tape's file would have reached; clears them. Called between gradients. */
int smash_tape_spill_failure_(double *bytes) {
    int code = __atomic_exchange_n(&spill_errno, 0, __ATOMIC_SEQ_CST);
    *bytes = code ? (double)spill_failed_bytes : 0.0;
    spill_failed_bytes = 0;
    return code;
}

/* Empty the calling thread's tapes after a gradient, freeing the large ones and closing
 * (hence deleting) their spill files. */
void smash_tape_release_(void) {
    release(&values);
    release(&controls);
}

/* Let every thread's tapes hold at most *limit bytes in memory (0: no limit), spilling the
 * rest to files in `folder` (n characters, not terminated). Called between gradients. */
void smash_tape_spill_configure_(const double *limit, const char *folder, const int *n) {
    spill_limit = *limit > 0 ? (size_t)*limit : 0;
    if (spill_limit > 0 && spill_limit < ((size_t)64 << 10)) spill_limit = (size_t)64 << 10; /* room for a few pushes */
    size_t length = *n > 0 ? (size_t)*n : 0;
    if (length >= sizeof spill_folder) length = sizeof spill_folder - 1;
    if (length == 0) {
        strcpy(spill_folder, "/tmp");
    } else {
        memcpy(spill_folder, folder, length);
        spill_folder[length] = 0;
    }
}

/* Arrays and types without a fast path: byte copies into whole slots. */
static void push_bytes(const void *src, size_t n) { memcpy(push_at(&values, SLOT(n)), src, n); }
static void pop_bytes(void *dst, size_t n) { memcpy(dst, pop_at(&values, SLOT(n)), n); }
static void look_bytes(void *dst, size_t n) { memcpy(dst, values.data + values.top - SLOT(n), n); }

#define ARRAY(NAME, BYTES)                                                              \
    void push##NAME##array_(const void *x, const int *n) { push_bytes(x, (size_t)(*n) * BYTES); } \
    void pop##NAME##array_(void *x, const int *n) { pop_bytes(x, (size_t)(*n) * BYTES); }
#define SCALAR(NAME, BYTES)                                                             \
    void push##NAME##_(const void *x) { push_bytes(x, BYTES); }                          \
    void pop##NAME##_(void *x) { pop_bytes(x, BYTES); }                                  \
    void look##NAME##_(void *x) { look_bytes(x, BYTES); }

SCALAR(real4, 4)
SCALAR(real16, 16)
SCALAR(integer8, 8)
SCALAR(complex8, 8)
SCALAR(complex16, 16)
SCALAR(character, 1)
SCALAR(boolean, 4)
ARRAY(real4, 4)
ARRAY(real8, 8)
ARRAY(real16, 16)
ARRAY(integer4, 4)
ARRAY(integer8, 8)
ARRAY(complex8, 8)
ARRAY(complex16, 16)
ARRAY(character, 1)
ARRAY(boolean, 4)
#undef ARRAY
#undef SCALAR

void pushreal8_(const double *x) { *(double *)push_at(&values, 8) = *x; }
void popreal8_(double *x) { *x = *(double *)pop_at(&values, 8); }
void lookreal8_(double *x) { *x = *(double *)(values.data + values.top - 8); }
void pushinteger4_(const int32_t *x) { *(int32_t *)push_at(&values, 8) = *x; }
void popinteger4_(int32_t *x) { *x = *(int32_t *)pop_at(&values, 8); }
void lookinteger4_(int32_t *x) { *x = *(int32_t *)(values.data + values.top - 8); }

/* Runs of consecutive scalar real(8) pushes or pops, merged by tapenade/generate.py
 * into one call. The values land exactly where the separate calls would put them:
 * x1 first (lowest) for a push, x1 first (from the top) for a pop. */
#define R const double *
#define W double *
#define PUSH_LIST(...)                                            \
    R xs[] = {__VA_ARGS__};                                        \
    const int n = sizeof xs / sizeof xs[0];                        \
    double *slot = push_at(&values, 8 * (size_t)n);                \
    for (int i = 0; i < n; i++) slot[i] = *xs[i];
#define POP_LIST(...)                                             \
    W xs[] = {__VA_ARGS__};                                        \
    const int n = sizeof xs / sizeof xs[0];                        \
    const double *slot = pop_at(&values, 8 * (size_t)n);           \
    for (int i = 0; i < n; i++) *xs[i] = slot[n - 1 - i];
void pushreal8x2_(R a, R b) { PUSH_LIST(a, b) }
void pushreal8x3_(R a, R b, R c) { PUSH_LIST(a, b, c) }
void pushreal8x4_(R a, R b, R c, R d) { PUSH_LIST(a, b, c, d) }
void pushreal8x5_(R a, R b, R c, R d, R e) { PUSH_LIST(a, b, c, d, e) }
void pushreal8x6_(R a, R b, R c, R d, R e, R f) { PUSH_LIST(a, b, c, d, e, f) }
void pushreal8x7_(R a, R b, R c, R d, R e, R f, R g) { PUSH_LIST(a, b, c, d, e, f, g) }
void pushreal8x8_(R a, R b, R c, R d, R e, R f, R g, R h) { PUSH_LIST(a, b, c, d, e, f, g, h) }
void popreal8x2_(W a, W b) { POP_LIST(a, b) }
void popreal8x3_(W a, W b, W c) { POP_LIST(a, b, c) }
void popreal8x4_(W a, W b, W c, W d) { POP_LIST(a, b, c, d) }
void popreal8x5_(W a, W b, W c, W d, W e) { POP_LIST(a, b, c, d, e) }
void popreal8x6_(W a, W b, W c, W d, W e, W f) { POP_LIST(a, b, c, d, e, f) }
void popreal8x7_(W a, W b, W c, W d, W e, W f, W g) { POP_LIST(a, b, c, d, e, f, g) }
void popreal8x8_(W a, W b, W c, W d, W e, W f, W g, W h) { POP_LIST(a, b, c, d, e, f, g, h) }
#undef PUSH_LIST
#undef POP_LIST
#undef R
#undef W

/* Branch choices: Tapenade records which of 2^k paths was taken (k = 1 to 8). */
#define CONTROL(K)                                                                        \
    void pushcontrol##K##b_(const int *c) { *(uint16_t *)push_at(&controls, 2) = (uint16_t)*c; } \
    void popcontrol##K##b_(int *c) { *c = *(uint16_t *)pop_at(&controls, 2); }             \
    void lookcontrol##K##b_(int *c) { *c = *(uint16_t *)(controls.data + controls.top - 2); }

CONTROL(1)
CONTROL(2)
CONTROL(3)
CONTROL(4)
CONTROL(5)
CONTROL(6)
CONTROL(7)
CONTROL(8)
#undef CONTROL

/* Tapenade pushes Fortran pointers (addresses) when a pointer is redirected. */
void pushpointer8_(const void *p) { push_bytes(p, 8); }
void poppointer8_(void *p) { pop_bytes(p, 8); }

#pragma GCC visibility pop
