/* SPDX-License-Identifier: MIT */
/*
 * term.h - printing untrusted text so that it cannot forge terminal output.
 *
 * Text from a record or from user input may hold escape sequences, carriage returns or
 * bidirectional overrides that would let it rewrite what the terminal shows (for example
 * a fake "signature  valid" line). Every such character is shown as a visible escape:
 * a C0 control or DEL or a byte that is not valid UTF-8 as \xNN, and a C1 control, a
 * bidi embedding, override or isolate (U+202A..U+202E, U+2066..U+2069), a direction mark
 * (U+200E, U+200F, U+061C) or a line or paragraph separator (U+2028, U+2029) as <U+XXXX>.
 */
#ifndef PX_TERM_H
#define PX_TERM_H

#include <stddef.h>
#include <stdio.h>

/*
 * Writes s[0..len) to f with the escapes above. indent NULL: one line, so \n and \t are
 * escaped too. indent not NULL: a block, where \t is kept and every \n is written as a
 * newline followed by indent, so that no line of the text starts at column 0.
 */
void px_term_write(FILE *f, const char *s, size_t len, const char *indent);

/*
 * Writes the one-line escaped form of s[0..len) into out[0..cap) (cap > 3), NUL-terminated.
 * When it does not fit it is cut at a character boundary and ends in "...".
 */
void px_term_escape(const char *s, size_t len, char *out, size_t cap);

#endif
