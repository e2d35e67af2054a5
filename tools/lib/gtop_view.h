/*
 * gtop_view.h - how gtop shows one frame: the curses screen, the plain-text frame of -b and the
 * --json object, all from one struct gtop_view (the model plus what the user picked).
 *
 * Owns the layout only: no sampling, no key handling, no memory. The caller (tools/gtop.c)
 * owns every field and keeps it valid during a call; nothing is kept between calls.
 */
#ifndef SSI_GTOP_VIEW_H
#define SSI_GTOP_VIEW_H

#include <limits.h>
#include <stddef.h>
#include <time.h>

#include "db/db.h"
#include "tools/lib/gtop_model.h"

/* What one frame shows. */
struct gtop_view {
	struct gtop_model m; /* built from the current and previous tables; nodes in screen order */
	const char *self;    /* this node's name (gsrc_node_name), for the header */
	time_t when;	     /* wall clock of the table */
	int sort;	     /* enum gtop_sort m.nodes are in, named in the header */
	unsigned sel;	     /* node whose processes are listed, 0 = all */
	long hz;	     /* clock ticks per second, for process CPU time */
	int mig_max;	     /* -m: migrations asked for; 0 = no migrations part */
	struct db_mig *mig;  /* last migrations, newest first */
	size_t nmig;
	char mig_note[PATH_MAX + 128]; /* why there are no migration rows, "" if there are */
};

/* Print the frame as plain text on stdout (trailing spaces cut), ntop process rows. The
 * caller checks stdout for errors. */
void gtop_view_text(const struct gtop_view *v, int ntop);

/* Print the frame as one JSON object and a newline on stdout, at most ntop processes. */
void gtop_view_json(const struct gtop_view *v, int ntop);

/*
 * Draw the frame on the curses screen (newterm done), clipped to LINES x COLS: the process
 * rows get what the other parts leave, the last line is the status line, showing err
 * ("" = none, else the last failed refresh) or the keys. help: draw the help screen instead.
 */
void gtop_view_draw(const struct gtop_view *v, int help, const char *err);

#endif
