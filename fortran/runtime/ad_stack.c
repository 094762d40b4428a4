/*
 * Push/pop stack used by the Tapenade-generated adjoint (fortran/generated).
 *
 * The reverse sweep needs, in reverse order, values the forward sweep
 * overwrote and the branches it took. Generated code calls the routines
 * below with Fortran linkage (lower case, trailing underscore, arguments by
 * reference). Everything is stored as raw bytes, so one stack serves every
 * type and kind: a push of n items of k bytes is popped by the matching pop
 * of the same n and k, which the generated code guarantees.
 *
 * Each thread has its own stack: an OpenMP loop with a static schedule gives
 * a thread the same iterations in the forward and the reverse sweep, so what
 * a thread pushes is exactly what it pops.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Only code of the same extension module calls these: hidden symbols make
 * those calls direct instead of going through the PLT (the adjoint makes
 * tens of push/pop calls per cell and step). */
#pragma GCC visibility push(hidden)

typedef struct {
    unsigned char *data;
    size_t top;
    size_t capacity;
} byte_stack;

/* initial-exec: the library's few bytes of thread-local data sit in the static
 * TLS block, so each push reads them directly instead of calling __tls_get_addr
 * (which took 11 % of a gradient's instructions). */
#define SMASH_TLS _Thread_local __attribute__((tls_model("initial-exec")))
static SMASH_TLS byte_stack stack = {NULL, 0, 0};
/* Largest tape size (bytes) since the last release: what a gradient costs in memory. */
static SMASH_TLS size_t peak = 0;

static void grow(size_t extra);

static inline void reserve(size_t extra) {
    if (stack.top + extra > stack.capacity) grow(extra);
}

static void grow(size_t extra) {
    if (stack.top + extra <= stack.capacity) return;
    size_t capacity = stack.capacity ? stack.capacity : ((size_t)1 << 20);
    while (capacity < stack.top + extra) capacity *= 2;
    unsigned char *data = realloc(stack.data, capacity);
    if (data == NULL) {
        fprintf(stderr, "smash adjoint: out of memory growing the tape to %zu bytes\n", capacity);
        abort();
    }
    stack.data = data;
    stack.capacity = capacity;
}

static inline void push_bytes(const void *src, size_t n) {
    reserve(n);
    /* Most pushes are one 8-byte value: a constant-size copy compiles to a move. */
    if (n == 8)
        memcpy(stack.data + stack.top, src, 8);
    else
        memcpy(stack.data + stack.top, src, n);
    stack.top += n;
    if (stack.top > peak) peak = stack.top;
}

static inline void pop_bytes(void *dst, size_t n) {
    if (n > stack.top) {
        fprintf(stderr, "smash adjoint: tape underflow (pop of %zu bytes, %zu held)\n", n, stack.top);
        abort();
    }
    stack.top -= n;
    if (n == 8)
        memcpy(dst, stack.data + stack.top, 8);
    else
        memcpy(dst, stack.data + stack.top, n);
}

static void look_bytes(void *dst, size_t n) {
    memcpy(dst, stack.data + stack.top - n, n);
}

/* Bytes currently held by the calling thread's tape (for diagnostics). */
size_t smash_tape_bytes(void) { return stack.top; }

/* Peak size of the calling thread's tape since its last release. */
double smash_tape_peak_bytes_(void) { return (double)peak; }

/* Release the calling thread's tape memory (after a gradient). */
void smash_tape_release_(void) {
    free(stack.data);
    stack.data = NULL;
    stack.top = stack.capacity = 0;
    peak = 0;
}

/* Scalars and arrays of each Fortran type, by byte size. */
#define TYPED(NAME, BYTES)                                                              \
    void push##NAME##_(const void *x) { push_bytes(x, BYTES); }                          \
    void pop##NAME##_(void *x) { pop_bytes(x, BYTES); }                                  \
    void look##NAME##_(void *x) { look_bytes(x, BYTES); }                                \
    void push##NAME##array_(const void *x, const int *n) { push_bytes(x, (size_t)(*n) * BYTES); } \
    void pop##NAME##array_(void *x, const int *n) { pop_bytes(x, (size_t)(*n) * BYTES); }

TYPED(real4, 4)
TYPED(real8, 8)
TYPED(real16, 16)
TYPED(integer4, 4)
TYPED(integer8, 8)
TYPED(complex8, 8)
TYPED(complex16, 16)
TYPED(character, 1)
TYPED(boolean, 4)

/* Runs of consecutive scalar real(8) pushes or pops, merged by tapenade/generate.py
 * into one call (a gradient made ~60 such calls per cell and step). The bytes land
 * exactly where the separate calls would put them: x1 first (lowest) for a push,
 * x1 first (from the top) for a pop. */
static inline void push8_list(const double *const *xs, int n) {
    reserve((size_t)n * 8);
    for (int i = 0; i < n; i++) memcpy(stack.data + stack.top + 8 * (size_t)i, xs[i], 8);
    stack.top += (size_t)n * 8;
    if (stack.top > peak) peak = stack.top;
}

static inline void pop8_list(double *const *xs, int n) {
    if ((size_t)n * 8 > stack.top) {
        fprintf(stderr, "smash adjoint: tape underflow (pop of %d reals, %zu bytes held)\n", n, stack.top);
        abort();
    }
    for (int i = 0; i < n; i++) memcpy(xs[i], stack.data + stack.top - 8 * (size_t)(i + 1), 8);
    stack.top -= (size_t)n * 8;
}

#define R const double *
#define W double *
void pushreal8x2_(R a, R b) { R xs[] = {a, b}; push8_list(xs, 2); }
void pushreal8x3_(R a, R b, R c) { R xs[] = {a, b, c}; push8_list(xs, 3); }
void pushreal8x4_(R a, R b, R c, R d) { R xs[] = {a, b, c, d}; push8_list(xs, 4); }
void pushreal8x5_(R a, R b, R c, R d, R e) { R xs[] = {a, b, c, d, e}; push8_list(xs, 5); }
void pushreal8x6_(R a, R b, R c, R d, R e, R f) { R xs[] = {a, b, c, d, e, f}; push8_list(xs, 6); }
void pushreal8x7_(R a, R b, R c, R d, R e, R f, R g) { R xs[] = {a, b, c, d, e, f, g}; push8_list(xs, 7); }
void pushreal8x8_(R a, R b, R c, R d, R e, R f, R g, R h) { R xs[] = {a, b, c, d, e, f, g, h}; push8_list(xs, 8); }
void popreal8x2_(W a, W b) { W xs[] = {a, b}; pop8_list(xs, 2); }
void popreal8x3_(W a, W b, W c) { W xs[] = {a, b, c}; pop8_list(xs, 3); }
void popreal8x4_(W a, W b, W c, W d) { W xs[] = {a, b, c, d}; pop8_list(xs, 4); }
void popreal8x5_(W a, W b, W c, W d, W e) { W xs[] = {a, b, c, d, e}; pop8_list(xs, 5); }
void popreal8x6_(W a, W b, W c, W d, W e, W f) { W xs[] = {a, b, c, d, e, f}; pop8_list(xs, 6); }
void popreal8x7_(W a, W b, W c, W d, W e, W f, W g) { W xs[] = {a, b, c, d, e, f, g}; pop8_list(xs, 7); }
void popreal8x8_(W a, W b, W c, W d, W e, W f, W g, W h) { W xs[] = {a, b, c, d, e, f, g, h}; pop8_list(xs, 8); }
#undef R
#undef W

/* Branch choices: Tapenade records which of 2^k paths was taken. One byte
 * holds any of the control widths it emits (1 to 8 bits). */
#define CONTROL(K)                                                                      \
    void pushcontrol##K##b_(const int *c) { unsigned char b = (unsigned char)*c; push_bytes(&b, 1); } \
    void popcontrol##K##b_(int *c) { unsigned char b; pop_bytes(&b, 1); *c = b; }          \
    void lookcontrol##K##b_(int *c) { unsigned char b; look_bytes(&b, 1); *c = b; }

CONTROL(1)
CONTROL(2)
CONTROL(3)
CONTROL(4)
CONTROL(5)
CONTROL(6)
CONTROL(7)
CONTROL(8)

/* Tapenade pushes Fortran pointers (addresses) when a pointer is redirected. */
void pushpointer8_(const void *p) { push_bytes(p, 8); }
void poppointer8_(void *p) { pop_bytes(p, 8); }

#pragma GCC visibility pop
