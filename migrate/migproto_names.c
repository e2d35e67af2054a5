/*
 * migproto_names.c - the small, stateless parts of the migration protocol module
 * (migproto.h): default time-outs, home's answer without a machine, and the names of
 * states, messages, events, actions, outcomes and roles for logs and tests.
 *
 * Owns no state. The transitions are in migproto_roles.c.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>

#include "migrate/migproto.h"

void migproto_conf_default(struct migproto_conf *c)
{
	*c = (struct migproto_conf){.nego_ms = 5000,
				    .freeze_ms = 5000,
				    .stream_idle_ms = 10000,
				    .cancel_ms = 5000,
				    .recv_idle_ms = 15000,
				    .ready_base_ms = 30000,
				    .min_rate_kib_s = 8192,
				    .query_ms = 1000,
				    .query_max_ms = 16000,
				    .indoubt_report_ms = 10000,
				    .home_grace_ms = 60000,
				    .commit_retry_ms = 2000};
}

int migproto_home_orphan(bool committed, const struct migproto_event *ev,
			 struct migproto_action *out, size_t max, size_t *n)
{
	assert(n);
	*n = 0;
	if (!ev || ev->type != MIGPROTO_EV_MSG ||
	    (ev->msg != MIGPROTO_READY && ev->msg != MIGPROTO_QUERY) ||
	    (ev->from != MIGPROTO_SOURCE && ev->from != MIGPROTO_DEST))
		return 0;
	if (max < 1)
		return -ENOSPC;
	out[0] = (struct migproto_action){
		.kind = MIGPROTO_A_SEND,
		.to = ev->node,
		.to_role = ev->from,
		.msg = committed ? MIGPROTO_COMMIT : MIGPROTO_ABORT,
		.err = committed ? 0 : -ESRCH,
		.reason = committed ? NULL : "no commit recorded for this move (presumed abort)"};
	*n = 1;
	return 0;
}

/* ---- names ---- */

static const char *const state_names[MIGPROTO_STATE_COUNT] = {
	[MIGPROTO_NEW] = "NEW",
	[MIGPROTO_S_NEGOTIATE] = "S_NEGOTIATE",
	[MIGPROTO_S_FREEZING] = "S_FREEZING",
	[MIGPROTO_S_STREAMING] = "S_STREAMING",
	[MIGPROTO_S_CANCELLING] = "S_CANCELLING",
	[MIGPROTO_S_DECIDING] = "S_DECIDING",
	[MIGPROTO_S_MOVED] = "S_MOVED",
	[MIGPROTO_S_ABORTED] = "S_ABORTED",
	[MIGPROTO_S_LOST] = "S_LOST",
	[MIGPROTO_D_RECEIVING] = "D_RECEIVING",
	[MIGPROTO_D_READY] = "D_READY",
	[MIGPROTO_D_RUNNING] = "D_RUNNING",
	[MIGPROTO_D_ABORTED] = "D_ABORTED",
	[MIGPROTO_D_LOST] = "D_LOST",
	[MIGPROTO_H_WAIT_READY] = "H_WAIT_READY",
	[MIGPROTO_H_RECORDING] = "H_RECORDING",
	[MIGPROTO_H_COMMITTED] = "H_COMMITTED",
	[MIGPROTO_H_MOVED] = "H_MOVED",
	[MIGPROTO_H_ABORTED] = "H_ABORTED",
	[MIGPROTO_H_LOST] = "H_LOST",
};

const char *migproto_state_name(enum migproto_state s)
{
	return (unsigned)s < MIGPROTO_STATE_COUNT && state_names[s] ? state_names[s] : "?";
}

const char *migproto_msg_name(enum migproto_msg msg)
{
	switch (msg) {
	case MIGPROTO_OFFER:
		return "OFFER";
	case MIGPROTO_ACCEPT:
		return "ACCEPT";
	case MIGPROTO_REFUSE:
		return "REFUSE";
	case MIGPROTO_READY:
		return "READY";
	case MIGPROTO_COMMIT:
		return "COMMIT";
	case MIGPROTO_ABORT:
		return "ABORT";
	case MIGPROTO_DONE:
		return "DONE";
	case MIGPROTO_QUERY:
		return "QUERY";
	}
	return "?";
}

static const char *const ev_names[] = {
	[MIGPROTO_EV_START] = "START",
	[MIGPROTO_EV_MSG] = "MSG",
	[MIGPROTO_EV_TIMER] = "TIMER",
	[MIGPROTO_EV_PROGRESS] = "PROGRESS",
	[MIGPROTO_EV_CANCEL] = "CANCEL",
	[MIGPROTO_EV_FROZEN] = "FROZEN",
	[MIGPROTO_EV_FREEZE_FAILED] = "FREEZE_FAILED",
	[MIGPROTO_EV_STREAM_DONE] = "STREAM_DONE",
	[MIGPROTO_EV_STREAM_FAILED] = "STREAM_FAILED",
	[MIGPROTO_EV_RESTORED] = "RESTORED",
	[MIGPROTO_EV_RESTORE_FAILED] = "RESTORE_FAILED",
	[MIGPROTO_EV_RECORDED] = "RECORDED",
	[MIGPROTO_EV_RECORD_FAILED] = "RECORD_FAILED",
	[MIGPROTO_EV_LINK_DOWN] = "LINK_DOWN",
	[MIGPROTO_EV_LINK_UP] = "LINK_UP",
	[MIGPROTO_EV_NODE_DEAD] = "NODE_DEAD",
};

const char *migproto_ev_name(enum migproto_ev ev)
{
	size_t i = (size_t)ev;

	return i < sizeof(ev_names) / sizeof(ev_names[0]) && ev_names[i] ? ev_names[i] : "?";
}

static const char *const act_names[] = {
	[MIGPROTO_A_SEND] = "SEND",
	[MIGPROTO_A_FREEZE] = "FREEZE",
	[MIGPROTO_A_THAW] = "THAW",
	[MIGPROTO_A_STREAM] = "STREAM",
	[MIGPROTO_A_CANCEL_STREAM] = "CANCEL_STREAM",
	[MIGPROTO_A_KILL_FROZEN] = "KILL_FROZEN",
	[MIGPROTO_A_RESTORE] = "RESTORE",
	[MIGPROTO_A_DISCARD] = "DISCARD",
	[MIGPROTO_A_RESUME] = "RESUME",
	[MIGPROTO_A_RECORD_COMMIT] = "RECORD_COMMIT",
	[MIGPROTO_A_REPORT] = "REPORT",
};

const char *migproto_act_name(enum migproto_act a)
{
	size_t i = (size_t)a;

	return i < sizeof(act_names) / sizeof(act_names[0]) && act_names[i] ? act_names[i] : "?";
}

const char *migproto_outcome_name(enum migproto_outcome o)
{
	switch (o) {
	case MIGPROTO_OUT_MOVED:
		return "MOVED";
	case MIGPROTO_OUT_ABORTED:
		return "ABORTED";
	case MIGPROTO_OUT_REFUSED:
		return "REFUSED";
	case MIGPROTO_OUT_INDOUBT:
		return "INDOUBT";
	case MIGPROTO_OUT_LOST:
		return "LOST";
	}
	return "?";
}

const char *migproto_role_name(enum migproto_role r)
{
	switch (r) {
	case MIGPROTO_SOURCE:
		return "source";
	case MIGPROTO_DEST:
		return "destination";
	case MIGPROTO_HOME:
		return "home";
	}
	return "?";
}
