/* The 36 products of all-MiniLM's 6 layers (distinct packed weights, F32 42 MB: more than L3; BF16 with a third
 * argument bf16) over n columns, in model order, as one pass runs them; GFLOP/s of the whole sequence, best of reps,
 * 1 and 2 threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "panamax.h"
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static float *rnd(long n){float*p=aligned_alloc(64,((n*4+63)/64)*64);for(long i=0;i<n;i++)p[i]=(rand()/(float)RAND_MAX-0.5f);return p;}
int main(int argc,char**argv){
  int cols = argc>1?atoi(argv[1]):481, reps = argc>2?atoi(argv[2]):5;
  const int T = argc>3 && !strcmp(argv[3],"bf16") ? PMX_TYPE_BF16 : PMX_TYPE_F32;
  const int shp[6][2]={{384,384},{384,384},{384,384},{384,384},{1536,384},{384,1536}};
  void *W[36]; 
  pmx_pool *p1 = pmx_pool_create(1);
  for(int i=0;i<36;i++){int R=shp[i%6][0],K=shp[i%6][1]; float*w=rnd((long)R*K); void*q=malloc((long)R*K*4); pmx_quantize(T,q,w,R,K); long pb=pmx_pack_bytes(T,R,K); W[i]=aligned_alloc(64,(pb+63)/64*64); pmx_pack(p1,T,W[i],q,R,K); free(w); free(q);}
  pmx_pool_destroy(p1);
  float *x=rnd((long)cols*1536), *y=rnd((long)cols*1536);
  long sb=pmx_matmul_packed_scratch_bytes(T,1536,cols); void *scr=sb>0?malloc(sb):NULL;
  double fl=0; for(int i=0;i<36;i++) fl+=2.0*shp[i%6][0]*shp[i%6][1]*cols;
  for(int th=1;th<=2;th++){
    pmx_pool *pool=pmx_pool_create(th);
    double best=1e9;
    for(int r=0;r<reps;r++){double t=now(); for(int i=0;i<36;i++){int R=shp[i%6][0],K=shp[i%6][1]; pmx_matmul_packed(pool,T,W[i],R,K,x,cols,y,scr,sb);} t=now()-t; if(t<best)best=t;}
    printf("%s threads %d: 36 products of 6 layers x %d cols: %.2f ms, %.1f GFLOP/s\n",T==PMX_TYPE_BF16?"bf16":"f32",th,cols,best*1e3,fl/best/1e9);
    pmx_pool_destroy(pool);
  }
}
