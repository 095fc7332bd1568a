/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Cleanup functions for libnl's objects, for the files of this folder. */
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_link *, rtnl_link_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_addr *, rtnl_addr_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_route *, rtnl_route_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct rtnl_neigh *, rtnl_neigh_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_addr *, nl_addr_put)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_cache *, nl_cache_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nl_msg *, nlmsg_free)
