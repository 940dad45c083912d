/* The output queue of a PS/2 device (its FIFO towards the controller). */
#include "devices/ps2.h"

void ps2_queue_clear(struct ps2_queue *q)
{
    q->head = q->count = 0;
}

bool ps2_queue_put(struct ps2_queue *q, uint8_t b)
{
    if (q->count >= PS2_QUEUE_SIZE)
        return false;
    q->buf[(q->head + q->count) % PS2_QUEUE_SIZE] = b;
    q->count++;
    return true;
}

unsigned ps2_queue_room(const struct ps2_queue *q)
{
    return PS2_QUEUE_SIZE - q->count;
}

bool ps2_queue_get(struct ps2_queue *q, uint8_t *b)
{
    if (!q->count)
        return false;
    *b = q->buf[q->head];
    q->head = (q->head + 1) % PS2_QUEUE_SIZE;
    q->count--;
    return true;
}
