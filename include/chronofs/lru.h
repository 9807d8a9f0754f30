/* SPDX-License-Identifier: MIT */
/*
 * lru.h — an intrusive least-recently-used list: entries embed a struct
 * cfs_lru_link and are found again with cfs_container_of(). The caller
 * locks. Most recent at the head, eviction from the tail.
 */
#pragma once

#include <stddef.h>

struct cfs_lru_link {
	struct cfs_lru_link *prev, *next;
};

struct cfs_lru {
	struct cfs_lru_link *head, *tail;
};

#define cfs_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void cfs_lru_unlink(struct cfs_lru *l, struct cfs_lru_link *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static inline void cfs_lru_push_head(struct cfs_lru *l, struct cfs_lru_link *e)
{
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	l->head = e;
	if (!l->tail)
		l->tail = e;
}
