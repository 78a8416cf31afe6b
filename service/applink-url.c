/* SPDX-License-Identifier: LGPL-2.1-or-later */
typedef int applink_placeholder_t;
