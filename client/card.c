/* SPDX-License-Identifier: MIT */
/* card.c - showing records; see card.h. */
#include "card.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "json.h"
#include "protocol/buf.h"
#include "protocol/err.h"
#include "term.h"

/* Label column of cards: the longest label ("supersedes") and a space. */
#define CARD_INDENT "           "

/* Widest title in a table row, in bytes of escaped text. */
#define ROW_TITLE_MAX 72

int
px_card_check(const uint8_t *raw, size_t len, struct px_record *rec, const char **field,
              bool verify)
{
    int rc;

    *field = NULL;
    if ((rc = px_record_decode(raw, len, rec, field)) != 0) {
        return rc;
    }
    return verify ? px_record_verify(rec) : 0;
}

void
px_card_report(const char *what, int code, const char *field)
{
    if (field != NULL) {
        px_cli_error("%s: %s: %s (field \"%s\")", what, px_err_name(code), px_strerror(code),
                     field);
    } else {
        px_cli_error("%s: %s: %s", what, px_err_name(code), px_strerror(code));
    }
}

static void
card_text(FILE *f, const char *label, struct px_str s, bool block)
{
    fprintf(f, "%-10s ", label);
    px_term_write(f, s.p, s.len, block ? CARD_INDENT : NULL);
    fputc('\n', f);
}

static void
card_list(FILE *f, const char *label, const struct px_str *list, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        fprintf(f, "%-10s - ", i == 0 ? label : "");
        px_term_write(f, list[i].p, list[i].len, NULL);
        fputc('\n', f);
    }
}

static void
card_hex(FILE *f, const char *label, const uint8_t *b, size_t n)
{
    char hex[2 * PX_ID_BYTES + 1];

    px_hex_encode(b, n, hex);
    fprintf(f, "%-10s %s\n", label, hex);
}

void
px_card_print(FILE *f, const struct px_record *rec, enum px_card_sig sig)
{
    const struct px_case *c = &rec->cs;
    char when[80];

    px_cli_format_time(rec->created, when, sizeof(when));
    card_hex(f, "id", rec->id, sizeof(rec->id));
    fprintf(f, "%-10s %s\n", "type", px_record_type_name(rec->type));
    card_hex(f, "author", rec->author, sizeof(rec->author));
    fprintf(f, "%-10s %s (%llu)\n", "created", when, (unsigned long long)rec->created);
    fprintf(f, "%-10s %s\n", "signature",
            sig == PX_CARD_SIG_INVALID ? "INVALID"
            : sig == PX_CARD_SIG_VALID ? "valid"
                                       : "valid (checked by praxisd on arrival)");
    if (rec->type == PX_RECORD_RETRACTION) {
        card_hex(f, "target", rec->rt.target, sizeof(rec->rt.target));
        card_text(f, "reason", rec->rt.reason, true);
        return;
    }
    fprintf(f, "%-10s %s\n", "practice", px_practice_name(c->practice));
    card_text(f, "title", c->title, false);
    card_text(f, "summary", c->summary, true);
    if (c->body.len > 0) {
        card_text(f, "body", c->body, true);
    }
    card_list(f, "lessons", c->lessons, c->n_lessons);
    if (c->n_tags > 0) {
        fprintf(f, "%-10s ", "tags");
        for (uint32_t i = 0; i < c->n_tags; i++) {
            fputs(i > 0 ? ", " : "", f);
            px_term_write(f, c->tags[i].p, c->tags[i].len, NULL);
        }
        fputc('\n', f);
    }
    if (c->sector.len > 0) {
        card_text(f, "sector", c->sector, false);
    }
    if (c->region.len > 0) {
        card_text(f, "region", c->region, false);
    }
    card_text(f, "language", c->language, false);
    if (c->occurred.len > 0) {
        card_text(f, "occurred", c->occurred, false);
    }
    card_list(f, "links", c->links, c->n_links);
    card_text(f, "license", c->license, false);
    if (c->has_supersedes) {
        card_hex(f, "supersedes", c->supersedes, sizeof(c->supersedes));
    }
}

int
px_card_json(FILE *f, const struct px_record *rec, enum px_card_sig sig)
{
    json_t *o = px_json_from_record(rec);
    char *text = NULL;

    if (o != NULL &&
        json_object_set_new(o, "signature_valid", json_boolean(sig != PX_CARD_SIG_INVALID)) == 0) {
        text = json_dumps(o, JSON_COMPACT);
    }
    json_decref(o);
    if (text == NULL) {
        px_cli_error("out of memory");
        return -1;
    }
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return 0;
}

void
px_card_table_header(FILE *f)
{
    fprintf(f, "%-*s  %-8s  %-10s  %-6s  %s\n", PX_CARD_SHORT_ID, "ID", "PRACTICE", "DATE",
            "REGION", "TITLE");
}

void
px_card_table_row(FILE *f, const struct px_record *rec)
{
    char hex[2 * PX_ID_BYTES + 1], date[32], region[4 * PX_CASE_MAX_REGION + 4];
    char title[ROW_TITLE_MAX + 1];
    const struct px_case *c = &rec->cs;

    px_hex_encode(rec->id, PX_ID_BYTES, hex);
    hex[PX_CARD_SHORT_ID] = '\0';
    px_cli_format_date(rec->created, date, sizeof(date));
    if (rec->type != PX_RECORD_CASE) {
        fprintf(f, "%-*s  %-8s  %-10s  %-6s  %s\n", PX_CARD_SHORT_ID, hex, "-", date, "-",
                "(retraction)");
        return;
    }
    px_term_escape(c->region.p, c->region.len, region, sizeof(region));
    px_term_escape(c->title.p, c->title.len, title, sizeof(title));
    fprintf(f, "%-*s  %-8s  %-10s  %-6s  %s\n", PX_CARD_SHORT_ID, hex,
            px_practice_name(c->practice), date, c->region.len > 0 ? region : "-", title);
}
