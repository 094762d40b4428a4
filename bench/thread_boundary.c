/* What two threads pay for sharing arrays split at one boundary (docs/performance-log.md).
 *
 *     cc -O2 -fopenmp bench/thread_boundary.c -o /tmp/thread_boundary -lm && /tmp/thread_boundary
 *
 * A sweep shaped like the core's rainfall-runoff: per step, every cell reads 13 columns of
 * doubles, does some tanh/exp/sqrt arithmetic and writes 6 of them; Cance-sized (383 cells x
 * 1440 steps) and 10x wider with 10x fewer steps. Times, best of 15: one thread; two threads
 * on the halves of shared arrays (the core's layout for short time blocks); the same split at
 * a cache line (no line written by both); the same with a gap of 128 unused cells between the
 * halves; two threads on separate arrays, as the core's per-thread copies of Cance-sized grids
 * (md_forward::rainfall_runoff_copies). Ratios are against the shared layout.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define NCOL 13
#define NWRITE 6

static void sweep(double **col, int k0, int k1, int steps) {
    for (int t = 0; t < steps; t++)
        for (int k = k0; k < k1; k++) {
            double s = 0;
            for (int j = 0; j < NCOL; j++) s += col[j][k];
            double a = tanh(s * 1e-3) + exp(-s * 1e-4) + sqrt(fabs(s) + 1.0);
            double b = a / (1.0 + s * s * 1e-6);
            for (int j = 0; j < NWRITE; j++) col[j][k] = 0.5 * col[j][k] + 1e-3 * b;
        }
}

static double **columns(int n) {
    double **col = malloc(NCOL * sizeof *col);
    for (int j = 0; j < NCOL; j++) {
        col[j] = aligned_alloc(64, ((n * sizeof(double) + 63) / 64) * 64);
        for (int k = 0; k < n; k++) col[j][k] = k % 7;
    }
    return col;
}

/* mode 0: one thread; 1: two threads, shared arrays, halves `gap` cells apart (split at a cache
 * line when `align`); 2: separate arrays */
static double run(int n, int steps, int mode, int gap, int align) {
    int half = align ? (n / 2 + 7) / 8 * 8 : n / 2;
    double **shared = columns(n + gap), **own[2] = {columns(n), columns(n)}, best = 1e9;
    for (int r = 0; r < 15; r++) {
        double t0 = omp_get_wtime();
        if (mode == 0) {
            sweep(shared, 0, n, steps);
        } else {
#pragma omp parallel num_threads(2)
            {
                int id = omp_get_thread_num();
                if (mode == 1) sweep(shared, id ? half + gap : 0, id ? n + gap : half, steps);
                else sweep(own[id], id ? half : 0, id ? n : half, steps);
            }
        }
        double t = omp_get_wtime() - t0;
        if (t < best) best = t;
    }
    return best * 1e3;
}

int main(void) {
    int sizes[2] = {383, 3830};
    printf("| cells | steps | one thread (ms) | two, shared (ms) | two, split at a line (ms) |"
           " two, 128-cell gap (ms) | two, separate (ms) | line / shared | gap / shared | separate / shared |\n"
           "|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 2; i++) {
        int n = sizes[i], steps = 1440 * 383 / n;
        double one = run(n, steps, 0, 0, 0), shared = run(n, steps, 1, 0, 0), line = run(n, steps, 1, 0, 1),
               gap = run(n, steps, 1, 128, 0), separate = run(n, steps, 2, 0, 0);
        printf("| %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", n, steps, one, shared, line,
               gap, separate, line / shared, gap / shared, separate / shared);
    }
    return 0;
}
