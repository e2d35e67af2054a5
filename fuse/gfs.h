/*
 * gfs.h - gprocfs --gfs: the FUSE file system behind /gfs/<node>/<path> (docs/gfs.md).
 *
 * Every node's files, served by that node's ssid with the rights of the calling uid. This
 * program runs as root (it is started by ssid) and passes each caller's uid, gid and groups
 * (fuse_get_context) with every request through run_dir/gfs.sock to its ssid, which serves
 * its own node's files locally and forwards the rest over the SSH links.
 */
#ifndef SSI_GFS_H
#define SSI_GFS_H

/* Run the file system: argv as `gprocfs --gfs MOUNTPOINT [-f] [-o opts]` minus "--gfs".
 * Returns the process exit status. */
int gfs_main(int argc, char **argv);

#endif
