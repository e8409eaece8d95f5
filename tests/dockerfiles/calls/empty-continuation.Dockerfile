FROM busybox
RUN echo a \

    && echo b
RUN echo c \
    # a comment inside is fine
    && echo d
RUN echo e \
   	
    && echo f
RUN echo g
