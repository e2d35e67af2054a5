/*
 * ssi-sim - compare balancing policies on a simulated cluster (ssi-sim(1), docs/balancing.md).
 *
 * Owns: the command line, the experiment (every load level x replication x policy, with the
 * same seed for every policy of one replication: common random numbers), the statistics over
 * replications (mean and a 95% Student-t confidence interval) and the output (a table per
 * load level, or --json). The simulation itself is tools/lib/sim.c; the policy "ours" is the
 * daemon's ssid/policy.c. Single-threaded; prints nothing until the whole experiment is done.
 */
#include "tools/lib/sim.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RHO	 16
#define MAX_REPS 1000

enum {
	M_MEAN,
	M_P95,
	M_MIG,
	M_PP,
	M_VSNONE,
	M_BSD, /* burst: mean slowdown, makespan, moves (only with --burst) */
	M_BMK,
	M_BMV,
	NMETRIC
};

struct stat {
	double sum, sumsq;
	int n;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ssi-sim [options]\n"
		"Simulate N nodes of K cores (processor sharing on each node) under a Poisson\n"
		"stream of jobs with bounded-Pareto CPU demand and compare balancing policies:\n"
		"  none        every job runs where it arrives (its home node)\n"
		"  random      at arrival, if home's queue would exceed T per core: a random node\n"
		"  threshold   at arrival, same test: probe up to Lp random nodes, first below T\n"
		"  mosix       every second: lowest gossiped remote load, moves if local load >\n"
		"              remote + 1.3 processes (MOSIX's stabiliser), preemptive\n"
		"  ours        every second: ssid/policy.c, the daemon's balancing policy (aged\n"
		"              gossip, 2-3 weighted random choices, reservations, hysteresis, the\n"
		"              cost-aware age gate; docs/balancing.md), preemptive\n"
		"  ours+place  ours, plus ssid/place.c (grun --best) choosing the node at arrival\n"
		"  ideal       all N*K cores pooled as one processor-sharing server (a bound)\n"
		"Prints, per load level rho, each policy's mean and 95th-percentile slowdown\n"
		"(response time / CPU demand), moves per process and ping-pong moves, as means\n"
		"over the replications +- a 95%% confidence interval. Every policy of one\n"
		"replication sees the same jobs and gossip (common random numbers), so \"vs "
		"none\"\n"
		"is the paired change of the mean slowdown against none in the same replication.\n"
		"The ssid daemon runs the same policy when [balance] enabled = yes in its\n"
		"ssid.conf (off by default; docs/balancing.md).\n"
		"Options:\n"
		"  -n, --nodes N        nodes (16)\n"
		"  -k, --cores K        cores per node (1)\n"
		"      --rho LIST       load levels per core, comma-separated (0.3,0.5,0.7,0.9)\n"
		"  -d, --duration S     measured seconds of arrivals per replication (800)\n"
		"      --warmup S       seconds simulated before measuring (200)\n"
		"  -r, --reps R         replications (10)\n"
		"  -s, --seed S         base seed (1); replication i uses seed S+i\n"
		"  -p, --policies LIST  comma-separated policy names (all)\n"
		"      --bw MBPS        migration bandwidth, MB/s (100)\n"
		"      --c0 S           fixed cost of one move, s (0.05)\n"
		"      --alpha A        Pareto shape of the CPU demand (1.0), 10 ms .. 10^4 s\n"
		"      --margin M       ours: hysteresis beyond one process's weight (0.3: a\n"
		"                       move needs S_src - S_dst >= 1/cores + M)\n"
		"      --burst N        also start N jobs at once on node 1 when the warm-up\n"
		"                       ends (make -jN); their slowdown, makespan and moves\n"
		"                       are shown apart (0)\n"
		"      --burst-cpu S    CPU demand of each burst job, s (30)\n"
		"      --json           one JSON object instead of the tables\n"
		"  -h, --help           this text\n");
}

/* Student t quantile 0.975 for df degrees of freedom. */
static double t975(int df)
{
	static const double t[] = {0,	  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
				   2.306, 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
				   2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
				   2.064, 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};

	if (df < 1)
		return 0;
	return df <= 30 ? t[df] : 1.96 + 2.4 / df;
}

static void add(struct stat *s, double x)
{
	s->sum += x;
	s->sumsq += x * x;
	s->n++;
}

static double mean(const struct stat *s)
{
	return s->n ? s->sum / s->n : 0;
}

/* Half width of the 95% confidence interval of the mean. */
static double ci(const struct stat *s)
{
	double m = mean(s), var;

	if (s->n < 2)
		return 0;
	var = (s->sumsq - s->n * m * m) / (s->n - 1);
	return t975(s->n - 1) * sqrt(var > 0 ? var : 0) / sqrt(s->n);
}

static int parse_list(const char *arg, double *v, int max)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		double x = strtod(tok, &end);

		if (end == tok || *end || n == max || !(x > 0 && x < 1.5)) {
			free(copy);
			return -EINVAL;
		}
		v[n++] = x;
	}
	free(copy);
	return n ? n : -EINVAL;
}

static int parse_policies(const char *arg, int *on)
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		return -ENOMEM;
	memset(on, 0, SIM_NPOLICIES * sizeof(*on));
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int p = sim_policy_parse(tok);

		if (p < 0) {
			fprintf(stderr, "ssi-sim: unknown policy '%s' (see --help)\n", tok);
			free(copy);
			return -EINVAL;
		}
		on[p] = 1;
		n++;
	}
	free(copy);
	return n ? 0 : -EINVAL;
}

static int num(const char *opt, const char *arg, double lo, double hi, double *out)
{
	char *end;
	double x = strtod(arg, &end);

	if (end == arg || *end || !(x >= lo && x <= hi)) {
		fprintf(stderr, "ssi-sim: %s wants a number in %g..%g, not '%s'\n", opt, lo, hi,
			arg);
		return -1;
	}
	*out = x;
	return 0;
}

static void print_table(const struct sim_config *c, double rho, const int *on,
			struct stat (*st)[NMETRIC], const double *jobs)
{
	printf("\nrho %.2f: %.1f jobs/s offered, %.0f jobs measured per replication\n", rho,
	       rho * c->nodes * c->cores / sim_mean_demand(c), jobs[0]);
	printf("%-11s %17s %17s %19s %17s %15s\n", "policy", "mean slowdown", "vs none, %",
	       "p95 slowdown", "moves/process", "ping-pong/rep");
	for (int p = 0; p < SIM_NPOLICIES; p++) {
		if (!on[p])
			continue;
		char vs[32] = "";

		if (st[p][M_VSNONE].n)
			snprintf(vs, sizeof(vs), "%+.1f +- %.1f", mean(&st[p][M_VSNONE]),
				 ci(&st[p][M_VSNONE]));
		printf("%-11s %8.3f +- %-6.3f %17s %9.2f +- %-6.2f %8.4f +- %-6.4f %7.1f +- "
		       "%-5.1f\n",
		       sim_policy_name(p), mean(&st[p][M_MEAN]), ci(&st[p][M_MEAN]), vs,
		       mean(&st[p][M_P95]), ci(&st[p][M_P95]), mean(&st[p][M_MIG]),
		       ci(&st[p][M_MIG]), mean(&st[p][M_PP]), ci(&st[p][M_PP]));
	}
	if (c->burst <= 0)
		return;
	printf("burst: %d jobs of %g s CPU start at once on node 1 after the warm-up\n", c->burst,
	       c->burst_cpu_s);
	printf("%-11s %19s %19s %17s\n", "policy", "burst slowdown", "makespan, s", "moves/job");
	for (int p = 0; p < SIM_NPOLICIES; p++)
		if (on[p])
			printf("%-11s %9.2f +- %-6.2f %9.1f +- %-6.1f %8.2f +- %-6.2f\n",
			       sim_policy_name(p), mean(&st[p][M_BSD]), ci(&st[p][M_BSD]),
			       mean(&st[p][M_BMK]), ci(&st[p][M_BMK]),
			       mean(&st[p][M_BMV]) / c->burst, ci(&st[p][M_BMV]) / c->burst);
}

static void print_json(double rho, const int *on, struct stat (*st)[NMETRIC], int *first)
{
	static const char *const key[NMETRIC] = {"mean_slowdown",
						 "p95_slowdown",
						 "moves_per_process",
						 "pingpong",
						 "mean_slowdown_vs_none_pct",
						 "burst_slowdown",
						 "burst_makespan_s",
						 "burst_moves"};

	for (int p = 0; p < SIM_NPOLICIES; p++) {
		if (!on[p])
			continue;
		/* policy names are fixed [a-z+] words: no escaping needed */
		printf("%s\n    {\"rho\": %.4g, \"policy\": \"%s\"", *first ? "" : ",", rho,
		       sim_policy_name(p));
		for (int m = 0; m < NMETRIC; m++)
			if (st[p][m].n)
				printf(", \"%s\": %.6g, \"%s_ci95\": %.6g", key[m], mean(&st[p][m]),
				       key[m], ci(&st[p][m]));
		printf("}");
		*first = 0;
	}
}

/* Run every policy of on[] at rho, reps times; fills st and jobs (mean measured jobs). */
static int experiment(struct sim_config c, double rho, int reps, const int *on,
		      struct stat (*st)[NMETRIC], double *jobs)
{
	uint64_t base = c.seed;
	int runs = 0;

	c.rho = rho;
	*jobs = 0;
	for (int i = 0; i < reps; i++) {
		double none_mean = 0;

		c.seed = base + (uint64_t)i;
		for (int p = 0; p < SIM_NPOLICIES; p++) {
			struct sim_result r;
			int e;

			if (!on[p])
				continue;
			e = sim_run(&c, p, &r);
			if (e) {
				fprintf(stderr, "ssi-sim: %s at rho %.2f, seed %llu: %s\n",
					sim_policy_name(p), rho, (unsigned long long)c.seed,
					strerror(-e));
				return e;
			}
			add(&st[p][M_MEAN], r.mean_slowdown);
			add(&st[p][M_P95], r.p95_slowdown);
			add(&st[p][M_MIG], r.mig_per_proc);
			add(&st[p][M_PP], r.pingpong);
			if (c.burst > 0) {
				add(&st[p][M_BSD], r.burst_slowdown);
				add(&st[p][M_BMK], r.burst_makespan_s);
				add(&st[p][M_BMV], r.burst_moves);
			}
			if (p == SIM_NONE)
				none_mean = r.mean_slowdown;
			else if (on[SIM_NONE] && none_mean > 0) /* paired: same jobs as none */
				add(&st[p][M_VSNONE], 100 * (r.mean_slowdown / none_mean - 1));
			*jobs += (double)r.jobs; /* the same jobs for every policy */
			runs++;
		}
	}
	*jobs /= runs ? runs : 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"nodes", required_argument, NULL, 'n'},
					     {"cores", required_argument, NULL, 'k'},
					     {"rho", required_argument, NULL, 'R'},
					     {"duration", required_argument, NULL, 'd'},
					     {"warmup", required_argument, NULL, 'w'},
					     {"reps", required_argument, NULL, 'r'},
					     {"seed", required_argument, NULL, 's'},
					     {"policies", required_argument, NULL, 'p'},
					     {"bw", required_argument, NULL, 'b'},
					     {"c0", required_argument, NULL, 'c'},
					     {"alpha", required_argument, NULL, 'a'},
					     {"json", no_argument, NULL, 'j'},
					     {"margin", required_argument, NULL, 'm'},
					     {"burst", required_argument, NULL, 'B'},
					     {"burst-cpu", required_argument, NULL, 'C'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct sim_config c;
	double rho[MAX_RHO] = {0.3, 0.5, 0.7, 0.9}, x;
	int nrho = 4, reps = 10, json = 0, on[SIM_NPOLICIES], o, first = 1;

	sim_config_default(&c);
	for (int p = 0; p < SIM_NPOLICIES; p++)
		on[p] = 1;
	while ((o = getopt_long(argc, argv, "n:k:d:r:s:p:h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			if (num("--nodes", optarg, 1, 511, &x))
				return 2;
			c.nodes = (int)x;
			break;
		case 'k':
			if (num("--cores", optarg, 1, 1024, &x))
				return 2;
			c.cores = (int)x;
			break;
		case 'R':
			nrho = parse_list(optarg, rho, MAX_RHO);
			if (nrho < 0) {
				fprintf(stderr,
					"ssi-sim: --rho wants up to %d numbers in (0, 1.5), "
					"comma-separated, not '%s'\n",
					MAX_RHO, optarg);
				return 2;
			}
			break;
		case 'd':
			if (num("--duration", optarg, 1, 1e7, &c.duration_s))
				return 2;
			break;
		case 'w':
			if (num("--warmup", optarg, 0, 1e7, &c.warmup_s))
				return 2;
			break;
		case 'r':
			if (num("--reps", optarg, 1, MAX_REPS, &x))
				return 2;
			reps = (int)x;
			break;
		case 's':
			if (num("--seed", optarg, 0, 1e15, &x))
				return 2;
			c.seed = (uint64_t)x;
			break;
		case 'p':
			if (parse_policies(optarg, on))
				return 2;
			break;
		case 'b':
			if (num("--bw", optarg, 0.001, 1e6, &c.bw_mbps))
				return 2;
			break;
		case 'c':
			if (num("--c0", optarg, 0, 100, &c.c0_s))
				return 2;
			break;
		case 'a':
			if (num("--alpha", optarg, 0.1, 5, &c.alpha))
				return 2;
			break;
		case 'm':
			if (num("--margin", optarg, -1, 10, &c.margin))
				return 2;
			break;
		case 'B':
			if (num("--burst", optarg, 0, 100000, &x))
				return 2;
			c.burst = (int)x;
			break;
		case 'C':
			if (num("--burst-cpu", optarg, 0.001, 1e6, &c.burst_cpu_s))
				return 2;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ssi-sim: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (json)
		printf("{\"nodes\": %d, \"cores\": %d, \"duration_s\": %g, \"warmup_s\": %g, "
		       "\"reps\": %d, \"seed\": %llu, \"alpha\": %g, \"bw_mbps\": %g, \"c0_s\": %g,"
		       " \"mean_demand_s\": %.6g,\n  \"results\": [",
		       c.nodes, c.cores, c.duration_s, c.warmup_s, reps, (unsigned long long)c.seed,
		       c.alpha, c.bw_mbps, c.c0_s, sim_mean_demand(&c));
	else
		printf("ssi-sim: %d nodes x %d core%s, bounded Pareto CPU demand alpha %g (%g s .. "
		       "%g s, mean %.3f s), %d replication%s of %g s measured after %g s warm-up, "
		       "seed %llu; moves at %g MB/s + %g s; +- = 95%% confidence interval.\n",
		       c.nodes, c.cores, c.cores == 1 ? "" : "s", c.alpha, c.x_min_s, c.x_max_s,
		       sim_mean_demand(&c), reps, reps == 1 ? "" : "s", c.duration_s, c.warmup_s,
		       (unsigned long long)c.seed, c.bw_mbps, c.c0_s);
	for (int i = 0; i < nrho; i++) {
		struct stat st[SIM_NPOLICIES][NMETRIC];
		double jobs;

		memset(st, 0, sizeof(st));
		if (experiment(c, rho[i], reps, on, st, &jobs))
			return 1;
		if (json)
			print_json(rho[i], on, st, &first);
		else
			print_table(&c, rho[i], on, st, &jobs);
	}
	if (json)
		printf("\n  ]}\n");
	return fflush(stdout) ? 1 : 0;
}
