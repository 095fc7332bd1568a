/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Intrusive doubly-linked lists, in the manner of systemd's src/basic/list.h: an item has
 * `next` and `prev` pointers, the list is a pointer to its first item. */

#define LIST_PREPEND(head, item)                                                                   \
        do {                                                                                       \
                typeof(item) _item_ = (item);                                                      \
                _item_->prev = NULL;                                                               \
                _item_->next = (head);                                                             \
                if (_item_->next)                                                                  \
                        _item_->next->prev = _item_;                                               \
                (head) = _item_;                                                                   \
        } while (0)

/* Unlinks item from the list head, if it is on it. */
#define LIST_REMOVE(head, item)                                                                    \
        do {                                                                                       \
                typeof(item) _item_ = (item);                                                      \
                if (_item_->prev)                                                                  \
                        _item_->prev->next = _item_->next;                                         \
                else if ((head) == _item_)                                                         \
                        (head) = _item_->next;                                                     \
                if (_item_->next)                                                                  \
                        _item_->next->prev = _item_->prev;                                         \
        } while (0)
