/* The flag table's generated parts (options.h): rows, struct option[],
 * --help, parsing and range checks. */
#include "app/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "app/cookie_cli.h"
#include "bennu/log.h"

#define BN_APP_OPT_OFF_CFG(t) 0
#define BN_APP_OPT_OFF_CSTR(t) offsetof(bn_app_opts_t, cfg.t)
#define BN_APP_OPT_OFF_STR(t) offsetof(bn_app_opts_t, t)
#define BN_APP_OPT_OFF_NUM(t) offsetof(bn_app_opts_t, t)
#define BN_APP_OPT_OFF_BOOL(t) offsetof(bn_app_opts_t, t)
#define BN_APP_OPT_OFF_LIST(t) offsetof(bn_app_opts_t, t)

static bn_app_opt_t rows[] = {
#define BN_APP_OPT_ROW(id, nm, kind, tgt, mn, mx, df, grp, mesh, chk, meta, deftext, hlp) \
    {BN_APP_OPT_##id,                                                                     \
     nm,                                                                                  \
     BN_APP_KIND_##kind,                                                                  \
     #tgt,                                                                                \
     BN_APP_OPT_OFF_##kind(tgt),                                                          \
     NULL,                                                                                \
     mn,                                                                                  \
     mx,                                                                                  \
     df,                                                                                  \
     BN_APP_GROUP_##grp,                                                                  \
     mesh,                                                                                \
     chk,                                                                                 \
     meta,                                                                                \
     deftext,                                                                             \
     hlp},
    BN_APP_OPTIONS(BN_APP_OPT_ROW)
#undef BN_APP_OPT_ROW
};

#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

static struct option long_opts[] = {
#define BN_APP_OPT_GETOPT(id, nm, kind, ...)                                             \
    {nm, BN_APP_KIND_##kind == BN_APP_KIND_BOOL ? no_argument : required_argument, NULL, \
     BN_APP_OPT_##id},
    BN_APP_OPTIONS(BN_APP_OPT_GETOPT)
#undef BN_APP_OPT_GETOPT
        {NULL, 0, NULL, 0},
};

/* Kind CFG rows point at the library's descriptor of their field. */
static void rows_bind(void)
{
    static bool bound;
    if (bound) {
        return;
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].kind == BN_APP_KIND_CFG) {
            rows[i].field = bn_config_field(rows[i].target);
            if (rows[i].field == NULL) { /* a table typo: caught by test_options */
                fprintf(stderr, "bennu: no bn_config_t field %s\n", rows[i].target);
                abort();
            }
        }
    }
    bound = true;
}

const bn_app_opt_t *bn_app_opt_rows(size_t *n)
{
    rows_bind();
    *n = N_ROWS;
    return rows;
}

const bn_app_opt_t *bn_app_opt_find(const char *name)
{
    rows_bind();
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].name, name) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

static const bn_app_opt_t *row_of(int id)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].id == id) {
            return &rows[i];
        }
    }
    return NULL;
}

const struct option *bn_app_long_options(void)
{
    return long_opts;
}

void bn_app_opts_init(bn_app_opts_t *o)
{
    rows_bind();
    memset(o, 0, sizeof(*o));
    bn_config_defaults(&o->cfg);
    for (size_t i = 0; i < N_ROWS; i++) {
        if (rows[i].kind == BN_APP_KIND_NUM) {
            *(long *)((char *)o + rows[i].offset) = rows[i].def;
        }
    }
}

/* ------------------------------------------------------------ value checks */

int bn_app_opt_check_origin(const char *value)
{
    if (bn_app_check_origin_valid(value)) {
        return 0;
    }
    fprintf(stderr,
            "bennu: invalid value for --check-origin: '%s' (accepted: off, conn, host, or a comma "
            "list of origins scheme://host[:port] or //host[:port], e.g. "
            "https://example.com,//*.example.org)\n",
            value);
    return -1;
}

int bn_app_opt_check_log_level(const char *value)
{
    if (bn_log_level_parse(value) >= 0) {
        return 0;
    }
    fprintf(stderr,
            "bennu: invalid value for --log-level: '%s' (accepted: debug, info, warn, error, "
            "off)\n",
            value);
    return -1;
}

int bn_app_opt_check_cidr_list(const char *value)
{
    if (bn_app_cidr_list_valid(value)) {
        return 0;
    }
    fprintf(stderr,
            "bennu: --trust-forwarded expects a comma list of networks ADDR[/BITS] (IPv4 or "
            "IPv6), got '%s'\n",
            value);
    return -1;
}

int bn_app_opt_check_cidr(const char *value)
{
    if (bn_app_cidr_valid(value)) {
        return 0;
    }
    fprintf(stderr, "bennu: --mesh-allow expects ADDR or ADDR/BITS (IPv4 or IPv6), got '%s'\n",
            value);
    return -1;
}

static bool host_port_valid(const char *value)
{
    const char *colon = strrchr(value, ':');
    char *end = NULL;
    long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;
    return colon != NULL && colon != value && end != colon + 1 && *end == '\0' && port >= 1 &&
           port <= 65535;
}

int bn_app_opt_check_join(const char *value)
{
    if (host_port_valid(value)) {
        return 0;
    }
    fprintf(stderr, "bennu: --join expects HOST:PORT (port 1..65535), got '%s'\n", value);
    return -1;
}

int bn_app_opt_check_advertise(const char *value)
{
    if (host_port_valid(value)) {
        return 0;
    }
    fprintf(stderr, "bennu: --advertise expects HOST:PORT (port 1..65535), got '%s'\n", value);
    return -1;
}

int bn_app_opt_check_dial(const char *value)
{
    if (strchr(value, '=') != NULL) {
        return 0;
    }
    fprintf(stderr, "bennu: --dial-override expects NAME@HOST=HOST:PORT (at most %d)\n",
            BN_APP_LIST_MAX);
    return -1;
}

/* ------------------------------------------------------------ parsing */

static int parse_num(const char *flag, const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "bennu: invalid value for --%s: '%s' (expected %lld..%lld)\n", flag, s, min,
                max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Stores one flag's value. Returns 0 or -1 after a message. */
static int apply(bn_app_opts_t *o, const bn_app_opt_t *r, const char *value)
{
    if (r->check != NULL && r->check(value) != 0) {
        return -1;
    }
    char *at = (char *)o + r->offset;
    long long v;
    switch (r->kind) {
    case BN_APP_KIND_CFG:
        if (parse_num(r->name, value, r->field->min, r->field->max, &v) != 0) {
            return -1;
        }
        return bn_config_set(&o->cfg, r->field, v) == 0 ? 0 : -1;
    case BN_APP_KIND_NUM:
        if (parse_num(r->name, value, r->min, r->max, &v) != 0) {
            return -1;
        }
        *(long *)at = (long)v;
        return 0;
    case BN_APP_KIND_CSTR:
    case BN_APP_KIND_STR:
        *(const char **)at = value;
        return 0;
    case BN_APP_KIND_BOOL:
        *(bool *)at = true;
        return 0;
    case BN_APP_KIND_LIST: {
        bn_app_list_t *l = (bn_app_list_t *)at;
        if (l->n == BN_APP_LIST_MAX) {
            fprintf(stderr, "bennu: at most %d --%s values\n", BN_APP_LIST_MAX, r->name);
            return -1;
        }
        l->v[l->n++] = value;
        return 0;
    }
    }
    return -1;
}

/* getopt_long accepts any unambiguous prefix ("--po" for --port) and takes
 * whatever follows a flag as its value; bennu wants each flag spelled out
 * and a real value. typed is the argv element that held the flag; separate
 * is true when the value was the next element. Returns 0, or -1 after a
 * message. */
static int check_flag(const char *typed, const struct option *o, bool separate, const char *value)
{
    size_t len = strcspn(typed, "=");
    if (len < 2 || strncmp(typed, "--", 2) != 0 || strlen(o->name) != len - 2 ||
        strncmp(typed + 2, o->name, len - 2) != 0) {
        fprintf(stderr,
                "bennu: unknown option %.*s (did you mean --%s? flags are not abbreviated)\n",
                (int)len, typed, o->name);
        return -1;
    }
    if (o->has_arg != required_argument) {
        return 0;
    }
    if (value[0] == '\0') {
        fprintf(stderr, "bennu: option --%s needs a value, got an empty one (see --help)\n",
                o->name);
        return -1;
    }
    if (separate && strncmp(value, "--", 2) == 0 && value[2] != '\0') {
        fprintf(stderr,
                "bennu: option --%s needs a value, got the option %s (write --%s=VALUE for a "
                "value that starts with --)\n",
                o->name, value, o->name);
        return -1;
    }
    return 0;
}

int bn_app_opts_parse(bn_app_opts_t *o, int argc, char **argv)
{
    rows_bind();
    int opt;
    int longindex = -1;
    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation (the tests parse many times) */
    /* "+": stop at the first non-option instead of reordering argv; ":": a
     * missing value is reported as ':' rather than as an unknown option. */
    while ((opt = getopt_long(argc, argv, "+:", long_opts, &longindex)) != -1) {
        const char *flag = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        if (opt == ':') {
            const bn_app_opt_t *r = row_of(optopt);
            if (r != NULL) {
                fprintf(stderr, "bennu: option --%s needs a value (see --help)\n", r->name);
            } else {
                fprintf(stderr, "bennu: option %s needs a value (see --help)\n", flag);
            }
            return 2;
        }
        const bn_app_opt_t *r = row_of(opt);
        if (r == NULL || longindex < 0) {
            /* optopt names a known flag given a value it does not take. */
            const bn_app_opt_t *known = optopt != 0 ? row_of(optopt) : NULL;
            if (known != NULL) {
                fprintf(stderr, "bennu: option --%s takes no value (see --help)\n", known->name);
            } else {
                fprintf(stderr, "bennu: unknown option %s (see --help)\n", flag);
            }
            return 2;
        }
        const struct option *lo = &long_opts[longindex];
        bool separate =
            lo->has_arg == required_argument && optind >= 2 && optarg == argv[optind - 1];
        if (check_flag(argv[optind - (separate ? 2 : 1)], lo, separate, optarg) != 0) {
            return 2;
        }
        longindex = -1;
        if (r->mesh_only && o->mesh_flag == NULL) {
            o->mesh_flag = r->name;
        }
        if (r->id == BN_APP_OPT_HELP) {
            bn_app_usage(stdout);
            return 1;
        }
        if (r->id == BN_APP_OPT_VERSION) {
            printf("bennu %s\n", BN_VERSION);
            return 1;
        }
        if (apply(o, r, optarg) != 0) {
            return 2;
        }
        o->burst_given |= r->id == BN_APP_OPT_BURST;
        o->url_host_given |= r->id == BN_APP_OPT_URL_HOST;
    }
    if (optind < argc) {
        fprintf(stderr, "bennu: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (o->log_level != NULL) {
        bn_log_level = (bn_log_level_t)bn_log_level_parse(o->log_level);
    }
    return 0;
}

int bn_app_opts_check(bn_app_opts_t *o)
{
    if (o->burst_given && o->cfg.rate_limit == 0) {
        fprintf(stderr, "bennu: --rate-burst needs --rate-limit N (N > 0): without a rate "
                        "there is nothing to burst above\n");
        return 2;
    }
    if (o->url_host_given && strcmp(o->cfg.check_origin, "host") != 0) {
        fprintf(stderr, "bennu: --url-host is used only by --check-origin host\n");
        return 2;
    }
    if (o->no_mesh && o->mesh_flag != NULL) {
        fprintf(stderr, "bennu: --%s has no effect with --no-mesh\n", o->mesh_flag);
        return 2;
    }
    if (o->secret_flag != NULL && o->secret_file != NULL) {
        fprintf(stderr, "bennu: give --secret-key-base or --secret-key-base-file, not both\n");
        return 2;
    }
    if (o->cookie != NULL && o->cookie_file != NULL) {
        fprintf(stderr, "bennu: give --cookie or --cookie-file, not both\n");
        return 2;
    }
    if (o->down_ms <= o->tick_ms) {
        fprintf(stderr, "bennu: --down-ms must be greater than --tick-ms\n");
        return 2;
    }
    if (o->cfg.max_message_size < o->cfg.max_frame_size) {
        o->cfg.max_message_size = o->cfg.max_frame_size;
    }
    return 0;
}

/* ------------------------------------------------------------ --help */

#define HELP_COL 24
#define HELP_WIDTH 79
#define HELP_NBSP '\x1f' /* a space --help never breaks a line at */

/* The default shown for r, from a freshly initialised bn_app_opts_t. */
static void default_text(const bn_app_opt_t *r, const bn_app_opts_t *d, char *buf, size_t len)
{
    buf[0] = '\0';
    if (r->deftext != NULL) {
        snprintf(buf, len, "%s", r->deftext);
        return;
    }
    const char *at = (const char *)d + r->offset;
    switch (r->kind) {
    case BN_APP_KIND_CFG:
        snprintf(buf, len, "%lld", bn_config_get(&d->cfg, r->field));
        break;
    case BN_APP_KIND_NUM:
        snprintf(buf, len, "%ld", *(const long *)at);
        break;
    case BN_APP_KIND_CSTR:
    case BN_APP_KIND_STR:
        if (*(const char *const *)at != NULL) {
            snprintf(buf, len, "%s", *(const char *const *)at);
        }
        break;
    default:
        break;
    }
}

/* Prints text from column col on, wrapped at HELP_WIDTH, continuation
 * lines indented to HELP_COL. */
static void wrap(FILE *out, const char *text, size_t col)
{
    const char *p = text;
    while (*p != '\0') {
        size_t room = HELP_WIDTH - col;
        size_t n = strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ') {
                n--;
            }
            if (n == 0) {
                n = strcspn(p, " ");
            }
        }
        for (size_t i = 0; i < n; i++) {
            fputc(p[i] == HELP_NBSP ? ' ' : p[i], out);
        }
        fputc('\n', out);
        p += n;
        while (*p == ' ') {
            p++;
        }
        if (*p != '\0') {
            fprintf(out, "%*s", HELP_COL, "");
            col = HELP_COL;
        }
    }
}

void bn_app_usage(FILE *out)
{
    static const char *const sections[] = {
        "",
        "Operations (see docs/api.md):\n",
        "Cluster (see README \"Cluster\"):\n",
        "",
    };
    bn_app_opts_t d;
    bn_app_opts_init(&d);
    fprintf(out, "usage: bennu [options]\n"
                 "\n"
                 "Runs one Bennu node: the Phoenix socket at /socket (WebSocket and LongPoll),\n"
                 "the demo chat page at / and /health. Flags may also come from --config FILE\n"
                 "(the same names without the dashes).\n");
    int group = -1;
    for (size_t i = 0; i < N_ROWS; i++) {
        const bn_app_opt_t *r = &rows[i];
        if ((int)r->group != group) {
            group = (int)r->group;
            fprintf(out, "\n%s", sections[group]);
        }
        char head[64], def[96], text[512];
        int hl =
            snprintf(head, sizeof(head), "  --%s%s%s", r->name, r->meta[0] ? " " : "", r->meta);
        default_text(r, &d, def, sizeof(def));
        snprintf(text, sizeof(text), "%s%s%s%s", r->help, def[0] ? " (default\x1f" : "", def,
                 def[0] ? ")" : "");
        if (hl + 2 > HELP_COL) {
            fprintf(out, "%s  ", head);
            wrap(out, text, (size_t)hl + 2);
        } else {
            fprintf(out, "%-*s", HELP_COL, head);
            wrap(out, text, HELP_COL);
        }
    }
    fprintf(out, "\n"
                 "       bennu token mint|verify ...   Phoenix.Token tools (bennu token --help)\n"
                 "       bennu cookie new [FILE]      a random cluster cookie (FILE made 0600)\n");
}
