#ifndef EDGE_GMP_MOBILENETV1_CIFAR10_H_
#define EDGE_GMP_MOBILENETV1_CIFAR10_H_

extern const unsigned char mobilenetv1_cifar10[];
extern const unsigned int mobilenetv1_cifar10_len;

#endif  // EDGE_GMP_MOBILENETV1_CIFAR10_H_
