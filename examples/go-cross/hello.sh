#!/bin/sh
echo "hello @VERSION@ for @ARCH@"
