#ifndef EDGE_GMP_MOBILENETV1_CIFAR10_DISTILLED_H_
#define EDGE_GMP_MOBILENETV1_CIFAR10_DISTILLED_H_

extern const unsigned char mobilenetv1_cifar10_distilled[];
extern const unsigned int mobilenetv1_cifar10_distilled_len;

#endif  // EDGE_GMP_MOBILENETV1_CIFAR10_DISTILLED_H_
