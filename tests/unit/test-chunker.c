/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <string.h>

#include "chronofs/base.h"
#include "chronofs/chunker.h"

/* Test data from a fixed PRNG (splitmix64), so failures reproduce. */
static uint8_t *random_data(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint64_t x = seed;

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (x += UINT64_C(0x9e3779b97f4a7c15));
		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		z ^= z >> 31;
		memcpy(p + i, &z, CFS_MIN((size_t)8, n - i));
	}
	return p;
}

static struct cfs_chunker_params default_params(uint8_t seed_fill)
{
	struct cfs_chunker_params p = {
		.min_size = CFS_CHUNKER_MIN_DEFAULT,
		.avg_size = CFS_CHUNKER_AVG_DEFAULT,
		.max_size = CFS_CHUNKER_MAX_DEFAULT,
	};
	memset(p.seed, seed_fill, sizeof(p.seed));
	return p;
}

static struct cfs_chunker *new_chunker(const struct cfs_chunker_params *p)
{
	struct cfs_chunker *c = malloc(sizeof(*c));
	cr_assert_not_null(c);
	cr_assert_eq(cfs_chunker_init(c, p), 0);
	return c;
}

/* Chunk a whole buffer at once; returns the number of chunks, lengths in
 * *ret_lens (caller frees). */
static size_t chunk_all(const struct cfs_chunker *c, const uint8_t *p, size_t n, size_t **ret_lens)
{
	size_t cap = 16, count = 0, off = 0;
	size_t *lens = malloc(cap * sizeof(*lens));

	cr_assert_not_null(lens);
	while (off < n) {
		size_t len = cfs_chunker_next(c, p + off, n - off, true);
		cr_assert_gt(len, 0);
		cr_assert_leq(len, n - off);
		if (count == cap) {
			cap *= 2;
			lens = realloc(lens, cap * sizeof(*lens));
			cr_assert_not_null(lens);
		}
		lens[count++] = len;
		off += len;
	}
	*ret_lens = lens;
	return count;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t *chunk_hashes(const uint8_t *p, const size_t *lens, size_t count)
{
	uint64_t *h = malloc(count * sizeof(*h));
	size_t off = 0;

	cr_assert_not_null(h);
	for (size_t i = 0; i < count; i++) {
		h[i] = fnv1a(p + off, lens[i]);
		off += lens[i];
	}
	qsort(h, count, sizeof(*h), cmp_u64);
	return h;
}

Test(chunker, params)
{
	struct cfs_chunker c;
	struct cfs_chunker_params p = default_params(1);

	cr_assert_eq(cfs_chunker_init(&c, &p), 0);
	cr_assert_eq(c.min_size, CFS_CHUNKER_MIN_DEFAULT);
	cr_assert_eq(c.avg_size, CFS_CHUNKER_AVG_DEFAULT);
	cr_assert_eq(c.max_size, CFS_CHUNKER_MAX_DEFAULT);
	/* Normalization level 2: avg = 2^20, so 22 and 18 mask bits, all in
	 * the high half of the word. */
	cr_assert_eq(__builtin_popcountll(c.mask_s), 22);
	cr_assert_eq(__builtin_popcountll(c.mask_l), 18);
	cr_assert_eq(c.mask_s & 0xffffffffu, 0);
	cr_assert_eq(c.mask_l & 0xffffffffu, 0);

	/* Smallest legal configuration. */
	p.min_size = 64;
	p.avg_size = 128;
	p.max_size = 129;
	cr_assert_eq(cfs_chunker_init(&c, &p), 0);
	cr_assert_eq(__builtin_popcountll(c.mask_s), 9);
	cr_assert_eq(__builtin_popcountll(c.mask_l), 5);
	/* Largest. */
	p.min_size = 1u << 20;
	p.avg_size = 32u << 20;
	p.max_size = 64u << 20;
	cr_assert_eq(cfs_chunker_init(&c, &p), 0);

	const struct {
		uint32_t min, avg, max;
	} bad[] = {
		{63, 128, 256},			   /* min too small */
		{128, 128, 256},		   /* min == avg */
		{256, 128, 512},		   /* min > avg */
		{64, 256, 256},			   /* avg == max */
		{64, 256, 200},			   /* avg > max */
		{64, 300, 1024},		   /* avg not a power of two */
		{1024, 4096, (64u << 20) + 1},	   /* max too large */
		{0, 0, 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		p.min_size = bad[i].min;
		p.avg_size = bad[i].avg;
		p.max_size = bad[i].max;
		cr_assert_eq(cfs_chunker_init(&c, &p), -EINVAL, "case %zu", i);
	}
	cr_assert_eq(cfs_chunker_init(&c, NULL), -EINVAL);
}

Test(chunker, gear_depends_on_seed)
{
	struct cfs_chunker a, b, z;
	struct cfs_chunker_params pa = default_params(1), pb = default_params(1),
				  pz = default_params(0);

	pb.seed[31] ^= 1;
	cr_assert_eq(cfs_chunker_init(&a, &pa), 0);
	cr_assert_eq(cfs_chunker_init(&b, &pb), 0);
	cr_assert_eq(cfs_chunker_init(&z, &pz), 0);
	cr_assert_neq(memcmp(a.gear, b.gear, sizeof(a.gear)), 0);
	/* Re-initialising gives the same table. */
	cr_assert_eq(cfs_chunker_init(&b, &pa), 0);
	cr_assert_eq(memcmp(a.gear, b.gear, sizeof(a.gear)), 0);
	/* An all-zero seed still gives a usable table. */
	for (int i = 0; i < 256; i++)
		cr_assert_neq(z.gear[i], 0);
}

/* Frozen-format guard: a change of the gear derivation, masks or cut rule
 * changes these values and breaks dedup against existing repositories. The
 * values were cross-checked with an independent Python transcription of the
 * algorithm documented at the top of src/chunker/fastcdc.c. */
Test(chunker, golden)
{
	struct cfs_chunker_params p = default_params(0);
	struct cfs_chunker c;
	const size_t n = 64u * 1024;
	_cleanup_free_ uint8_t *data = random_data(n, 1);
	_cleanup_free_ size_t *lens = NULL;
	size_t count;
	uint64_t h = 0;

	for (int i = 0; i < 32; i++)
		p.seed[i] = (uint8_t)i;
	p.min_size = 1024;
	p.avg_size = 4096;
	p.max_size = 16384;
	cr_assert_eq(cfs_chunker_init(&c, &p), 0);
	cr_assert_eq(c.gear[0], UINT64_C(0xf85f20ef57a366dd), "gear[0] = %#llx",
		     (unsigned long long)c.gear[0]);
	cr_assert_eq(c.gear[255], UINT64_C(0xf91dfdc78b40d277), "gear[255] = %#llx",
		     (unsigned long long)c.gear[255]);
	cr_assert_eq(c.mask_s, UINT64_C(0xaa54aa5400000000), "mask_s = %#llx",
		     (unsigned long long)c.mask_s);
	cr_assert_eq(c.mask_l, UINT64_C(0x9248924800000000), "mask_l = %#llx",
		     (unsigned long long)c.mask_l);
	count = chunk_all(&c, data, n, &lens);
	for (size_t i = 0; i < count; i++)
		h = h * 31 + lens[i];
	cr_assert_eq(count, 16);
	cr_assert_eq(lens[0], 4376);
	cr_assert_eq(lens[15], 2878);
	cr_assert_eq(h, UINT64_C(0x8e4b74f9a15ea29c), "%zu chunks, h = %#llx", count,
		     (unsigned long long)h);
}

Test(chunker, small_inputs_and_contract)
{
	struct cfs_chunker_params p = default_params(2);
	struct cfs_chunker c;
	_cleanup_free_ uint8_t *data = random_data(CFS_CHUNKER_MAX_DEFAULT + 10, 9);

	cr_assert_eq(cfs_chunker_init(&c, &p), 0);
	cr_assert_eq(cfs_chunker_next(&c, data, 0, true), 0);
	cr_assert_eq(cfs_chunker_next(&c, data, 0, false), 0);
	cr_assert_eq(cfs_chunker_next(&c, data, 1, true), 1);
	cr_assert_eq(cfs_chunker_next(&c, data, 1, false), 0);
	cr_assert_eq(cfs_chunker_next(&c, data, CFS_CHUNKER_MIN_DEFAULT, false), 0);
	cr_assert_eq(cfs_chunker_next(&c, data, CFS_CHUNKER_MIN_DEFAULT, true),
		     CFS_CHUNKER_MIN_DEFAULT);

	/* All-zero data never matches (the gear hash of zeros is constant
	 * and nonzero in the mask bits for this seed) or does so at once;
	 * either way the result respects [min+1, max]. */
	_cleanup_free_ uint8_t *zeros = calloc(1, CFS_CHUNKER_MAX_DEFAULT + 10);
	cr_assert_not_null(zeros);
	size_t len = cfs_chunker_next(&c, zeros, CFS_CHUNKER_MAX_DEFAULT + 10, false);
	cr_assert_gt(len, CFS_CHUNKER_MIN_DEFAULT);
	cr_assert_leq(len, CFS_CHUNKER_MAX_DEFAULT);

	/* With at least max bytes there is always an answer, eof or not. */
	len = cfs_chunker_next(&c, data, CFS_CHUNKER_MAX_DEFAULT, false);
	cr_assert_gt(len, CFS_CHUNKER_MIN_DEFAULT);
	cr_assert_leq(len, CFS_CHUNKER_MAX_DEFAULT);
	cr_assert_eq(cfs_chunker_next(&c, data, CFS_CHUNKER_MAX_DEFAULT + 10, false), len);
	cr_assert_eq(cfs_chunker_next(&c, data, CFS_CHUNKER_MAX_DEFAULT + 10, true), len);
	/* A prefix that contains the cut finds the same cut. */
	cr_assert_eq(cfs_chunker_next(&c, data, len, false), len);
	/* One byte short of the cut: needs more data, or ends at eof. */
	cr_assert_eq(cfs_chunker_next(&c, data, len - 1, false), 0);
	cr_assert_eq(cfs_chunker_next(&c, data, len - 1, true), len - 1);
}

Test(chunker, forced_cut_at_max)
{
	/* A run of one byte value drives the gear hash to a constant; find a
	 * value whose constant never satisfies the masks, so the only cut is
	 * the forced one at max. */
	struct cfs_chunker_params p = default_params(2);
	struct cfs_chunker c;
	uint8_t buf[1024 + 10];
	bool found = false;

	p.min_size = 64;
	p.avg_size = 256;
	p.max_size = 1024;
	cr_assert_eq(cfs_chunker_init(&c, &p), 0);
	for (int v = 0; v < 256 && !found; v++) {
		memset(buf, v, sizeof(buf));
		found = cfs_chunker_next(&c, buf, sizeof(buf), true) == p.max_size;
	}
	cr_assert(found);
	cr_assert_eq(cfs_chunker_next(&c, buf, p.max_size, false), p.max_size);
	cr_assert_eq(cfs_chunker_next(&c, buf, p.max_size + 1, false), p.max_size);
	cr_assert_eq(cfs_chunker_next(&c, buf, p.max_size - 1, false), 0);
	cr_assert_eq(cfs_chunker_next(&c, buf, p.max_size - 1, true), p.max_size - 1);
}

Test(chunker, deterministic_and_bounded)
{
	struct cfs_chunker_params p = default_params(3);
	_cleanup_free_ struct cfs_chunker *c = new_chunker(&p);
	const size_t n = 64u << 20;
	_cleanup_free_ uint8_t *data = random_data(n, 3);
	_cleanup_free_ size_t *lens = NULL;
	_cleanup_free_ size_t *lens2 = NULL;
	size_t count, count2, total = 0;

	count = chunk_all(c, data, n, &lens);
	for (size_t i = 0; i < count; i++) {
		if (i + 1 < count) {
			cr_assert_gt(lens[i], CFS_CHUNKER_MIN_DEFAULT, "chunk %zu: %zu", i, lens[i]);
			cr_assert_leq(lens[i], CFS_CHUNKER_MAX_DEFAULT, "chunk %zu: %zu", i, lens[i]);
		}
		total += lens[i];
	}
	cr_assert_eq(total, n);

	/* Average within 30% of the configured one. */
	double avg = (double)n / (double)count;
	cr_assert(avg > 0.7 * CFS_CHUNKER_AVG_DEFAULT && avg < 1.3 * CFS_CHUNKER_AVG_DEFAULT,
		  "average chunk %.0f over %zu chunks", avg, count);

	count2 = chunk_all(c, data, n, &lens2);
	cr_assert_eq(count, count2);
	cr_assert_eq(memcmp(lens, lens2, count * sizeof(*lens)), 0);

	/* Another seed cuts elsewhere. */
	struct cfs_chunker_params q = default_params(4);
	_cleanup_free_ struct cfs_chunker *c2 = new_chunker(&q);
	free(lens2);
	count2 = chunk_all(c2, data, n, &lens2);
	cr_assert(count != count2 || memcmp(lens, lens2, count * sizeof(*lens)) != 0);
}

Test(chunker, average_small_params)
{
	/* Same statistics at a small scale, many more chunks. */
	struct cfs_chunker_params p = default_params(5);
	p.min_size = 2048;
	p.avg_size = 8192;
	p.max_size = 65536;
	_cleanup_free_ struct cfs_chunker *c = new_chunker(&p);
	const size_t n = 16u << 20;
	_cleanup_free_ uint8_t *data = random_data(n, 5);
	_cleanup_free_ size_t *lens = NULL;
	size_t count = chunk_all(c, data, n, &lens), at_max = 0;

	for (size_t i = 0; i + 1 < count; i++) {
		cr_assert_gt(lens[i], p.min_size);
		cr_assert_leq(lens[i], p.max_size);
		at_max += lens[i] == p.max_size;
	}
	double avg = (double)n / (double)count;
	cr_assert(avg > 0.7 * p.avg_size && avg < 1.3 * p.avg_size, "average %.0f", avg);
	cr_assert_lt(at_max, count / 100, "%zu forced cuts of %zu", at_max, count);
}

Test(chunker, insertion_resynchronises)
{
	struct cfs_chunker_params p = default_params(6);
	_cleanup_free_ struct cfs_chunker *c = new_chunker(&p);
	const size_t n = 32u << 20, ins = 100, at = 1000;
	_cleanup_free_ uint8_t *a = random_data(n, 6);
	_cleanup_free_ uint8_t *b = malloc(n + ins);
	_cleanup_free_ size_t *la = NULL, *lb = NULL;
	_cleanup_free_ uint64_t *ha = NULL, *hb = NULL;
	size_t na, nb, shared = 0;

	cr_assert_not_null(b);
	memcpy(b, a, at);
	memset(b + at, 0xa5, ins);
	memcpy(b + at + ins, a + at, n - at);

	na = chunk_all(c, a, n, &la);
	nb = chunk_all(c, b, n + ins, &lb);
	ha = chunk_hashes(a, la, na);
	hb = chunk_hashes(b, lb, nb);
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		if (ha[i] == hb[j]) {
			shared++;
			i++;
			j++;
		} else if (ha[i] < hb[j]) {
			i++;
		} else {
			j++;
		}
	}
	cr_assert_gt(shared * 10, na * 9, "only %zu of %zu chunks shared", shared, na);
	cr_assert_geq(shared + 3, na, "%zu of %zu chunks shared", shared, na);
}

/*
 * The caller contract: keep a window starting at the current chunk, ask,
 * and on 0 grow the window by whatever the reader delivers next. Cuts must
 * not depend on how the stream was split into reads.
 */
static void windowed_matches(const struct cfs_chunker *c, const uint8_t *data, size_t n,
			     const size_t *lens, size_t count, size_t max_step, uint64_t seed)
{
	size_t start = 0, avail = 0, k = 0;
	uint64_t x = seed;

	while (start < n) {
		size_t len = cfs_chunker_next(c, data + start, avail, avail == n - start);
		if (len == 0) {
			/* Deliver 1 .. max_step bytes at a time. */
			x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
			size_t step = 1 + (size_t)((x >> 33) % max_step);
			avail = CFS_MIN(avail + step, n - start);
			continue;
		}
		cr_assert_lt(k, count);
		cr_assert_eq(len, lens[k], "chunk %zu: %zu vs %zu", k, len, lens[k]);
		cr_assert_leq(len, avail);
		k++;
		start += len;
		avail -= len;
	}
	cr_assert_eq(k, count);
}

Test(chunker, windowed_feeding_same_cuts)
{
	struct cfs_chunker_params p = default_params(7);
	_cleanup_free_ struct cfs_chunker *c = new_chunker(&p);
	const size_t n = (16u << 20) + 12345;
	_cleanup_free_ uint8_t *data = random_data(n, 7);
	_cleanup_free_ size_t *lens = NULL;
	size_t count = chunk_all(c, data, n, &lens);

	windowed_matches(c, data, n, lens, count, 256u * 1024, 1);
	windowed_matches(c, data, n, lens, count, 64u * 1024, 2);

	/* Small parameters: many cuts, and windows often end mid-scan. */
	struct cfs_chunker_params q = default_params(8);
	q.min_size = 64;
	q.avg_size = 256;
	q.max_size = 1024;
	_cleanup_free_ struct cfs_chunker *c2 = new_chunker(&q);
	_cleanup_free_ size_t *lens2 = NULL;
	const size_t n2 = 1u << 20;
	count = chunk_all(c2, data, n2, &lens2);
	windowed_matches(c2, data, n2, lens2, count, 300, 3);
}
