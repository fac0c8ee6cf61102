/** The viewer's memory bound (see frontend/README.md): whatever the series
 * length, pixels held in the browser stay below these figures. */

const MiB = 1 << 20;

/** The decimated sagittal volume, float32 (uploaded to the GPU as it is: its
 * texture is the same size, and no converted copy is ever made). */
export const SAGITTAL_VOLUME_BYTES = 64 * MiB;
/** Full-resolution axial images kept for scrolling; least recently used go first. */
export const AXIAL_CACHE_BYTES = 128 * MiB;
/** Frames being fetched or decoded for the sagittal volume at once. */
export const FRAMES_IN_FLIGHT = 6;
/** Slices in the first, coarse pass that gives the first sagittal image. */
export const FIRST_PASS_SLICES = 16;
