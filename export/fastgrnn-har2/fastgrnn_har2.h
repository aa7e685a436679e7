#ifndef EDGE_GMP_FASTGRNN_HAR2_H_
#define EDGE_GMP_FASTGRNN_HAR2_H_

extern const unsigned char fastgrnn_har2[];
extern const unsigned int fastgrnn_har2_len;

#endif  // EDGE_GMP_FASTGRNN_HAR2_H_
